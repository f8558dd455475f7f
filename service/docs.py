"""/docs without the internet: the swagger-ui assets come from the swagger-ui-bundle package and
are served by the app itself (flask-smorest's default is a CDN, so the page was blank offline).
swagger-ui's online validator (a badge loaded from validator.swagger.io) is turned off too."""
from __future__ import annotations

from flask import Flask, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_PREFIX = "/docs/assets/"


def configure(config: dict) -> None:
    config.setdefault("OPENAPI_SWAGGER_UI_URL", ASSETS_PREFIX)
    config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})


def init_app(app: Flask) -> None:
    def swagger_ui_asset(filename: str):
        return send_from_directory(swagger_ui_path, filename, max_age=86_400)

    app.add_url_rule(ASSETS_PREFIX + "<path:filename>", "swagger_ui_assets", swagger_ui_asset)

"""Hot reload of the rule files, without a restart.

The new rule book is loaded, validated and compiled completely before anything changes; only
then is it swapped in, by replacing one reference. A check holds the rule book it started
with, so in-flight checks finish on their version. A bad edit never replaces the good set:
the problems are returned, logged and written to the trail, and the old version keeps serving.

Each gunicorn worker holds its own rule book: the endpoint reloads the worker that answers
it, and every worker also notices a change of the rule files within RULES_WATCH_SECONDS
(a content hash, checked between requests) and reloads by itself.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service.clock import utcnow
from service.rulebook import RuleBook, RuleLoadError, content_version, load_rulebook
from service.rulesets import record_ruleset
from service.trail import append

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")

# Old engines are freed one reload later: by then no check can still be using them.
_RETIRED: list[RuleBook] = []
_RELOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str            # the version serving after the attempt
    previous: str
    problems: list[str]


def reload_rules(app: Flask, reason: str) -> ReloadResult:
    with _RELOAD_LOCK:
        current: RuleBook = app.extensions["rulebook"]
        try:
            new = load_rulebook(Path(app.config["RULES_DIR"]))
        except RuleLoadError as exc:
            problems = [str(p) for p in exc.problems]
            app.logger.error("rule reload refused (%s): %d problem(s); still serving %s",
                             reason, len(problems), current.version)
            _record(app, current.version, {"rejected": True, "reason": reason, "problems": problems,
                                           "still_serving": current.version})
            app.extensions["rules_checked_version"] = content_version(Path(app.config["RULES_DIR"]))
            return ReloadResult(False, current.version, current.version, problems)
        app.extensions["rulebook"] = new
        app.extensions["rules_checked_version"] = new.version
        for old in _RETIRED:
            old.engine.close()
        _RETIRED[:] = [current]
        if new.version != current.version:
            record_ruleset(app, new, previous=current.version, reason=reason)  # once, whichever worker is first
        app.logger.info("rules reloaded (%s): %s -> %s", reason, current.version, new.version)
        return ReloadResult(True, new.version, current.version, [])


def _record(app: Flask, version: str, body: dict) -> None:
    with app.extensions["db_sessions"]() as session, session.begin():
        append(session, kind="ruleset_change", recorded_at=utcnow(), ruleset_version=version, body=body)


def init_app(app: Flask) -> None:
    app.extensions["rules_checked_version"] = app.extensions["rulebook"].version
    app.extensions["rules_checked_at"] = time.monotonic()
    interval = float(app.config["RULES_WATCH_SECONDS"])
    if interval <= 0:
        return

    @app.before_request
    def _watch_rules():
        now = time.monotonic()
        if now - app.extensions["rules_checked_at"] < interval:
            return
        app.extensions["rules_checked_at"] = now
        on_disk = content_version(Path(app.config["RULES_DIR"]))
        if on_disk != app.extensions["rules_checked_version"]:
            reload_rules(app, "rule files changed on disk")


class ReloadResultSchema(Schema):
    ok = fields.Boolean()
    version = fields.String(metadata={"description": "The rule-set version serving now"})
    previous = fields.String()
    problems = fields.List(fields.String(), metadata={"description": "Why a reload was refused"})


@blp.route("/rules/reload")
class Reload(MethodView):
    @blp.response(200, ReloadResultSchema)
    @blp.alt_response(422, schema=ReloadResultSchema, description="Refused: the previous version keeps serving")
    def post(self):
        """Reload the rule files now; a bad edit is refused and the running version keeps serving."""
        result = reload_rules(current_app._get_current_object(), "admin endpoint")
        body = {"ok": result.ok, "version": result.version, "previous": result.previous,
                "problems": result.problems}
        return body, 200 if result.ok else 422

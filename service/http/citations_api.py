"""GET /v1/citations: a rule-set version's statute texts, for answers asked for with citations=refs.

A version is content-addressed (its hash covers the citation files), so its texts never change:
the ETag is the version and the answer may be cached for good.
"""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import abort

from schemas.citations import CitationsQueryArgsSchema, CitationsSchema
from service.http.api import Blueprint
from service.flows import rules_live
from service.record import db
from service.record.rulesets import VERSIONS

blp = Blueprint("citations", __name__, url_prefix="/v1", description="Statute texts by rule-set version")


@blp.route("/citations")
class Citations(MethodView):
    @blp.operation("getCitations", CitationsSchema, query=CitationsQueryArgsSchema())
    def get(self, args):
        """The texts of every provision a rule-set version cites, by catalog ref.

        With `citations=refs` on a check, findings name provisions by ref; their texts are here,
        once per version. Any version recorded in the trail is served; an unknown one is a 404.
        """
        serving = rules_live.serving(current_app)
        version = args.get("version") or serving.version
        headers = {"ETag": f'"{version}"', "Cache-Control": "public, max-age=31536000, immutable"}
        if version in request.if_none_match:
            return current_app.response_class(status=304, headers=headers)
        rulebook = serving if version == serving.version else _recorded(version)
        if rulebook is None:
            abort(404, message=f"No rule-set version {version} in the trail.")
        return {"ruleset_version": version, "citations": {
            ref: {"kind": c.kind, "law": c.law, "law_en": c.law_en, "article": c.article, "item": c.item,
                  "text": c.text, "effective_from": c.effective_from, "effective_to": c.effective_to}
            for ref, c in sorted(rulebook.citations.items())}}, 200, headers


def _recorded(version: str):
    with db.read_session() as session:
        return VERSIONS.rulebook(session, version)

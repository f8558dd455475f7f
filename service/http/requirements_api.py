"""GET /v1/requirements: which request fields a check of an action needs, from the rules."""
from __future__ import annotations

import hashlib

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import abort

from schemas.requirements import RequirementsQueryArgsSchema, RequirementsSchema
from service.decide.evaluation import default_as_of
from service.decide.requirements import UnknownAction, answer
from service.flows.rules_live import serving
from service.http.api import Blueprint

blp = Blueprint("requirements", __name__, url_prefix="/v1", description="What an action needs")


@blp.route("/requirements")
class Requirements(MethodView):
    @blp.operation("getRequirements", RequirementsSchema, query=RequirementsQueryArgsSchema())
    def get(self, args):
        """The request fields a check of this action reads, as of a date.

        Read off the conditions of the rules in force on that date that apply to the action: each
        field once, the rules reading it, and the values of other fields it matters with. The
        answer depends only on the rule-set version, the action and the date (see its ETag).
        """
        rulebook = serving(current_app)
        as_of = args.get("as_of") or default_as_of()
        etag = hashlib.sha256(f"{rulebook.version}\0{args['action']}\0{as_of.isoformat()}".encode()).hexdigest()[:32]
        headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache"}
        if etag in request.if_none_match:
            return current_app.response_class(status=304, headers=headers)
        try:
            return answer(rulebook, args["action"], as_of), 200, headers
        except UnknownAction:
            abort(422, errors={"action": [f"'{args['action']}' is not an action type of rule set {rulebook.version}."]})

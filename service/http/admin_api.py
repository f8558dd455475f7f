"""POST /v1/admin/rules/reload: put the rule files live now (service/flows/rules_live.py), or say
why not while the running version keeps serving."""
from __future__ import annotations

from http import HTTPStatus

from flask import current_app, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields

from schemas.errors import FieldErrorSchema
from service.flows.rules_live import reload_rules
from service.http.api import Blueprint

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")


class ReloadResultSchema(Schema):
    ok = fields.Boolean(required=True)
    version = fields.String(required=True, metadata={"description": "The rule-set version serving now"})
    previous = fields.String(required=True)
    problems = fields.List(fields.String(), required=True, metadata={"description": "Why a reload was refused"})


class ReloadRefusedSchema(ReloadResultSchema):
    """The project's error shape (code, status, message, errors), plus what is serving (not in a
    422 the request itself earns, which has the error shape alone)."""
    ok = fields.Boolean()
    version = fields.String(metadata={"description": "The rule-set version serving now"})
    previous = fields.String()
    problems = fields.List(fields.String(), metadata={"description": "Why the reload was refused"})
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True,
                         metadata={"description": "One per problem (path: the file) or failing case "
                                                  "(path: the example or fixture case)"})
    candidate = fields.String(metadata={"description": "The refused candidate's version (409 only)"})
    failing_cases = fields.List(fields.String(), metadata={"description": "The examples and fixture cases "
                                                                          "the candidate fails (409 only)"})


@blp.route("/rules/reload")
class Reload(MethodView):
    @blp.operation("reloadRules", ReloadResultSchema)
    @blp.alt_response(422, schema=ReloadRefusedSchema,
                      description="Refused, the rule files do not load: the previous version keeps serving")
    @blp.alt_response(409, schema=ReloadRefusedSchema,
                      description="Refused, the candidate fails some of its rule examples or fixture cases: "
                                  "the previous version keeps serving")
    def post(self):
        """Reload the rule files now; a bad edit is refused and the running version keeps serving.

        The candidate must load (else 422) and pass every rule example and fixture case (else 409).
        """
        result = reload_rules(current_app._get_current_object(), "admin endpoint")
        body = {"ok": result.ok, "version": result.version, "previous": result.previous,
                "problems": result.problems}
        if result.ok:
            return body, 200
        if result.candidate is not None:
            status, what = 409, (f"the candidate rule set {result.candidate} fails "
                                 f"{len(result.failing_cases)} rule example(s) or fixture case(s)")
            body.update(candidate=result.candidate, failing_cases=result.failing_cases)
        else:
            status, what = 422, f"the rule files do not load ({len(result.problems)} problem(s))"
        body.update(code=status, status=HTTPStatus(status).phrase, errors=result.errors,
                    message=f"Reload refused: {what}; still serving {result.version}.")
        # A Response of its own: the 200 schema would drop the error shape's fields.
        return jsonify(ReloadRefusedSchema().dump(body)), status

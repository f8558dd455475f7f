"""GET /v1/decisions/<id>: a stored decision, as it was answered (sensitive values redacted)."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from schemas.check import CheckResultSchema, FindingSchema
from service import db
from service.models import Decision

blp = Blueprint("decisions", __name__, url_prefix="/v1", description="Stored decisions")


class DecisionSchema(CheckResultSchema):
    id = fields.String()
    received_at = fields.DateTime()
    employee_id = fields.String()
    action_type = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    findings = fields.List(fields.Nested(FindingSchema))


@blp.route("/decisions/<string:decision_id>")
class DecisionView(MethodView):
    @blp.response(200, DecisionSchema)
    def get(self, decision_id):
        """A stored decision."""
        with db.session() as session:
            decision = session.get(Decision, decision_id)
        if decision is None:
            abort(404, message=f"No decision {decision_id}.")
        return {**{c: getattr(decision, c) for c in DecisionSchema().fields if hasattr(decision, c)},
                "decision_id": decision.id}

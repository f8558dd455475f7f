"""GET /v1/decisions/<id>: a recorded decision, as answered (sensitive values redacted)."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import fields
from sqlalchemy import select

from schemas.check import CheckResultSchema
from service.http.api import Blueprint
from service.record import db
from service.record.models import TrailEntry

blp = Blueprint("decisions", __name__, url_prefix="/v1", description="Recorded decisions")


class DecisionSchema(CheckResultSchema):
    received_at = fields.DateTime()
    kind = fields.String(metadata={"description": "check, case_event or event_refused"})
    employee_id = fields.String()
    case_id = fields.String(allow_none=True)
    action_type = fields.String()
    event_type = fields.String(allow_none=True)
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    trail_seq = fields.Integer()


@blp.route("/decisions/<string:decision_id>")
class DecisionView(MethodView):
    @blp.response(200, DecisionSchema)
    def get(self, decision_id):
        """A recorded decision, from the trail."""
        with db.session() as session:
            entry = session.scalar(select(TrailEntry).where(
                TrailEntry.entry_id == decision_id,
                TrailEntry.kind.in_(("check", "case_event", "event_refused"))))
        if entry is None:
            abort(404, message=f"No decision {decision_id}.")
        return {"decision_id": entry.entry_id, "verdict": entry.verdict, "as_of": entry.as_of,
                "ruleset_version": entry.ruleset_version, "findings": entry.body["findings"],
                "checked": entry.body.get("checked", []),
                "received_at": entry.recorded_at, "kind": entry.kind, "employee_id": entry.employee_id,
                "case_id": entry.case_id, "action_type": entry.action_type, "event_type": entry.event_type,
                "actor_id": entry.actor_id, "actor_role": entry.actor_role, "client_id": entry.client_id,
                "trail_seq": entry.seq}

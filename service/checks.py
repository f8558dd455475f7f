"""POST /v1/checks: may the EHR do this to this employee, as of this date?"""
from __future__ import annotations

import uuid

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy.exc import SQLAlchemyError

from schemas.check import CheckRequestSchema, CheckResultSchema
from service import db
from service.clock import utcnow
from service.evaluation import evaluate
from service.models import Decision
from service.privacy import redact_findings

blp = Blueprint("checks", __name__, url_prefix="/v1", description="Pre-action compliance checks")


@blp.route("/checks")
class Checks(MethodView):
    @blp.arguments(CheckRequestSchema)
    @blp.response(200, CheckResultSchema)
    def post(self, request):
        """Check a proposed separation action before the EHR carries it out.

        The verdict is the most severe finding: deny, warn, or allow when there is none.
        Every decision is stored before it is returned.
        """
        rulebook = current_app.extensions["rulebook"]
        received_at = utcnow()
        outcome = evaluate(rulebook, request)
        decision = Decision(
            id=str(uuid.uuid4()), received_at=received_at, as_of=outcome.as_of,
            employee_id=request["employee"]["id"], action_type=request["action"]["type"],
            actor_id=request["action"].get("actor", {}).get("id"),
            actor_role=request["action"].get("actor", {}).get("role"),
            case_id=(request.get("case") or {}).get("id"),
            verdict=outcome.verdict,
            findings=redact_findings(outcome.findings, rulebook.vocabulary.sensitive),
            ruleset_version=outcome.ruleset_version,
        )
        try:
            with db.session() as session, session.begin():
                session.add(decision)
        except SQLAlchemyError:
            current_app.logger.exception("could not store decision")
            abort(503, message="The decision could not be recorded; nothing was allowed. Retry later.")
        return {"decision_id": decision.id, "verdict": outcome.verdict, "as_of": outcome.as_of,
                "ruleset_version": outcome.ruleset_version, "findings": outcome.findings}

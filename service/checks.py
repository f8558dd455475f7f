"""POST /v1/checks: may the EHR do this to this employee, as of this date?"""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy.exc import SQLAlchemyError

from schemas.check import CheckRequestSchema, CheckResultSchema
from service import db
from service.clock import utcnow
from service.evaluation import evaluate
from service.ledger import accepted_events, case_request
from service.models import Case
from service.recording import record_decision

blp = Blueprint("checks", __name__, url_prefix="/v1", description="Pre-action compliance checks")


@blp.route("/checks")
class Checks(MethodView):
    @blp.arguments(CheckRequestSchema)
    @blp.response(200, CheckResultSchema)
    def post(self, request):
        """Check a proposed separation action before the EHR carries it out.

        The verdict is the most severe finding: deny, warn, or allow when there is none.
        Every decision is written to the trail before it is returned.
        """
        received_at = utcnow()
        if "case_id" in request:
            request["case"] = _recorded_case(request.pop("case_id"), request["employee"]["id"])
        outcome = evaluate(current_app.extensions["rulebook"], request)
        try:
            with db.session() as session, session.begin():
                entry = record_decision(session, outcome=outcome, request=request, received_at=received_at)
        except SQLAlchemyError:
            current_app.logger.exception("could not record decision")
            abort(503, message="The decision could not be recorded; nothing was allowed. Retry later.")
        return {"decision_id": entry.entry_id, "verdict": outcome.verdict, "as_of": outcome.as_of,
                "ruleset_version": outcome.ruleset_version, "findings": outcome.findings}


def _recorded_case(case_id: str, employee_id: str) -> dict:
    with db.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            abort(422, errors={"case_id": [f"No case {case_id} in the ledger."]})
        if case.employee_id != employee_id:
            abort(422, errors={"case_id": [f"Case {case_id} is about another employee."]})
        return case_request(case, accepted_events(session, case_id))

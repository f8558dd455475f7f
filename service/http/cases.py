"""POST /v1/cases/<id>/events and GET /v1/cases/<id>: the case ledger over HTTP."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy.exc import OperationalError

from schemas.ledger import (CaseEventRequestSchema, CaseQueryArgsSchema, CaseViewSchema, EventConflictSchema,
                            EventResultSchema)
from service.http.api import Blueprint
from service.http.examples import request_examples
from service.http.checks import declared_areas
from service.record import db
from service.decide.evaluation import default_as_of
from service.record.case_trail import LedgerDisagreement, case_rows
from service.decide.case_review import review_case
from service.flows.case_event import record_event
from service.http.auth import refuse_roles_not_granted
from service.record.ledger import CaseConflict, EmployeeRecordNeeded, event_dict, event_out, find_case
from service.tenants import DEFAULT_TENANT

blp = Blueprint("cases", __name__, url_prefix="/v1", description="The separation case ledger")


@blp.route("/cases/<string:case_id>/events")
class CaseEvents(MethodView):
    @blp.arguments(CaseEventRequestSchema(), examples=request_examples("createCaseEvent"))
    @blp.response(201, EventResultSchema)
    @blp.doc(operationId="createCaseEvent")
    @blp.alt_response(409, schema=EventConflictSchema,
                      description="Refused by the rules (recorded, with findings), or a conflict with the case")
    def post(self, body, case_id):
        """Record one workflow event, after the rules have checked it.

        An event the rules deny is refused with 409 and its findings; the refusal is recorded.
        Sending the same client_key again with the same request records nothing and returns the
        first answer; with another request it is refused with 409, naming the event the key recorded.
        """
        refuse_roles_not_granted([body["event"]["actor"]["role"]])
        declared = declared_areas(current_app.extensions["rulebook"], body.pop("complete_record", None))
        try:
            code, answer = record_event(current_app._get_current_object(), case_id, body, declared,
                                        getattr(g, "client_id", None), tenant=g.get("tenant", DEFAULT_TENANT))
        except EmployeeRecordNeeded as exc:
            abort(422, errors=exc.errors)
        except CaseConflict as exc:
            abort(409, message=str(exc))
        except OperationalError:
            current_app.logger.exception("could not record case event")
            abort(503, message="The event could not be recorded. Retry with the same client_key.")
        return answer, code


@blp.route("/cases/<string:case_id>")
class CaseView(MethodView):
    @blp.arguments(CaseQueryArgsSchema(), location="query")
    @blp.response(200, CaseViewSchema)
    @blp.doc(operationId="getCase")
    def get(self, args, case_id):
        """A case: its events, its status, the step awaiting a decision and the findings as of a date."""
        as_of = args.get("as_of") or default_as_of()
        tenant = g.get("tenant", DEFAULT_TENANT)
        with db.read_session(tenant) as session:
            # Another tenant's case of this id is not there: 404, as if there were none.
            case = find_case(session, case_id, tenant_id=tenant)
            if case is None:
                abort(404, message=f"No case {case_id}.")
            rows = case_rows(session, case_id, tenant_id=tenant)
            events = [event_dict(r) for r in rows if r.accepted]
        review = review_case(current_app.extensions["rulebook"], case, events, as_of)
        return {"id": case.id, "kind": case.kind, "employee_id": case.employee_id,
                "hr_owner_id": case.hr_owner_id, "manager_id": case.manager_id, "as_of": as_of,
                "status": review.status, "events": [event_out(r) for r in rows],
                "pending": review.pending or {"step": "none"}, "findings": review.findings}


@blp.app_errorhandler(LedgerDisagreement)
def ledger_disagrees(error: LedgerDisagreement):
    """From any decision about a case (an event, a check naming it, its review, its page): 503,
    the error shape naming the case and the event, and never a verdict."""
    current_app.logger.error("ledger disagrees with the trail: %s", error)
    return {"code": 503, "status": "Service Unavailable",
            "message": f"Nothing was decided: {error}. Run `trail verify` for every difference.",
            "errors": [], "case_id": error.case_id, "seq": error.seq}, 503

"""A check: may the EHR do this to this employee, as of this date? Decide each request with the
serving rule book (decide/), record every decision in the trail before it is answered (record/),
and answer. Like a case event (service/flows/case_event.py)."""
from __future__ import annotations

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from service.clock import day_in_china, utcnow
from service.decide.case_review import case_request
from service.decide.evaluation import evaluate, with_declarations
from service.record import rechecks, trail
from service.record.db import tenant_info
from service.record.ledger import accepted_events, find_case
from service.record.recording import Keeping, decision_entry
from service.tenants import DEFAULT_TENANT


class CheckRefused(Exception):
    """422: a check names a case the ledger does not hold, or holds for another employee."""

    def __init__(self, errors: dict) -> None:
        self.errors = errors
        super().__init__(str(errors))


class NotRecorded(Exception):
    """503: the decisions could not be recorded, so none is answered (nothing is allowed)."""


def check(app: Flask, requests: list[dict], declared: list[list[tuple[str, str]]],
          client_id: str | None = None, *, tenant: str) -> list[dict]:
    """Each request of the tenant decided under its complete-record declarations, all recorded in
    one transaction (or none, NotRecorded), with one rule-book version for the whole call. A
    check naming a case names one of the tenant's cases."""
    rulebook = app.extensions["rulebook"]
    received_at = utcnow()
    named = []  # checks that name a recorded case
    for request in requests:
        if "case_id" in request:
            request["case"] = _recorded_case(app, request.pop("case_id"), request["employee"]["id"], tenant)
            named.append(request)
    decided = [with_declarations(rulebook, r, d) for r, d in zip(requests, declared)]
    outcomes = [evaluate(rulebook, filled, assumed) for filled, assumed in decided]
    arrived_on = day_in_china(received_at)
    # A check as of a day before it arrives cannot have guided an action on that day: a what-if.
    retrospective = [o.as_of < arrived_on for o in outcomes]
    keeping = Keeping(app.config["TRAIL_FACT_VALUES"], app.config["TRAIL_DIGEST_KEY"].encode(), client_id, tenant)
    key = app.extensions["trail_key"]
    entries = [decision_entry(rulebook=rulebook, outcome=o, request=r, received_at=received_at, keeping=keeping,
                              body_extra={"retrospective": True} if past else None)
               for o, r, past in zip(outcomes, requests, retrospective)]
    try:
        recorded = trail.append_and_commit(app.extensions["db_engine"], entries, key)
    except SQLAlchemyError as exc:
        app.logger.exception("could not record decision")
        raise NotRecorded from exc
    # The re-check goes on with the facts as decided, declared absences filled in.
    _remember_case_facts(app, [(filled, e.entry_id) for (filled, _), r, e in zip(decided, requests, recorded)
                               if any(r is n for n in named)], tenant)
    return [{"decision_id": e.entry_id, "verdict": o.verdict, "as_of": o.as_of.isoformat(),
             "retrospective": past, "ruleset_version": o.ruleset_version, "findings": o.findings,
             "checked": o.checked, **({} if o.assumed is None else {"assumed": o.assumed}), "receipt": e.receipt(key)}
            for e, o, past in zip(recorded, outcomes, retrospective)]


def _remember_case_facts(app: Flask, named: list[tuple[dict, str]], tenant: str) -> None:
    """A check naming a recorded case gives the facts its daily re-check uses, and its later
    events that leave them out (service/record/rechecks.py): (request, decision id) pairs."""
    if not named:
        return
    try:
        with app.extensions["db_sessions"](info=tenant_info(tenant)) as session, session.begin():
            for request, decision_id in named:
                rechecks.remember_employee(session, request["case"]["id"], request["employee"], utcnow(),
                                           decision_id=decision_id, tenant_id=tenant,
                                           rulebook=app.extensions["rulebook"],
                                           keys=app.extensions["recheck_keys"])
    except SQLAlchemyError:  # the decision is recorded and answered; the re-check keeps older facts
        app.logger.exception("could not keep the case's employee facts for its re-check")


def _recorded_case(app: Flask, case_id: str, employee_id: str, tenant: str) -> dict:
    with app.extensions["db_read_sessions"](info=tenant_info(tenant)) as session:
        case = find_case(session, case_id, tenant_id=tenant)
        if case is None:
            raise CheckRefused({"case_id": [f"No case {case_id} in the ledger."]})
        if case.employee_id != employee_id:
            raise CheckRefused({"case_id": [f"Case {case_id} is about another employee."]})
        return case_request(case, accepted_events(session, case_id, tenant_id=tenant))

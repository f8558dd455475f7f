"""What the daily re-check keeps of each open case (service/flows/recheck.py decides): the
employee facts last given for it, sealed, and the verdict of its next step when last decided.

The employee facts the EHR gives with a case event, or with a check naming the case (`case_id`),
are kept in case_rechecks, sealed (service.record.recheck_keys), while the case is open; the row
is deleted when the case closes: the facts may hold health facts (PIPL Art. 28), and nothing else
needs them (PIPL Art. 19: no longer than the purpose needs).
"""
from __future__ import annotations

import datetime as dt
import logging

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.employee import dates_after
from service.record.ledger import EmployeeRecordNeeded, accepted_events, aware, jsonable
from service.record.models import Case, CaseEvent, CaseRecheck, TrailEntry
from service.record.recheck_keys import RecheckKeyError
from service.tenants import DEFAULT_TENANT


def sealed_for(tenant_id: str, case_id: str) -> str:
    """What a case's kept facts are sealed to (the AEAD's associated data): its id, and its
    tenant's beside it, so a row moved to another tenant's case of the same id does not open.
    The default tenant's rows keep the case id alone, as they were sealed before tenants."""
    return case_id if tenant_id == DEFAULT_TENANT else f"{tenant_id}/{case_id}"


def remember_employee(session: Session, case_id: str, employee: dict | None, now: dt.datetime,
                      events: list[dict] | None = None, decision_id: str | None = None, *, tenant_id: str, rulebook,
                      keys) -> None:
    """Keep the employee facts just given for the tenant's open case, sealed, for its daily
    re-check and for the case's later events that leave them out; `decision_id`: the decision
    whose request gave them. `employee` None: none were given, the kept ones stay. For a closed
    case (its accepted `events`, read when not given), keep nothing."""
    row = session.get(CaseRecheck, (tenant_id, case_id))
    machine = rulebook.context.classification.machine
    if machine.closed(machine.run(accepted_events(session, case_id, tenant_id=tenant_id)
                                  if events is None else events)):
        forget_case(session, row)
        return
    if employee is None:
        return
    row = recheck_row(session, tenant_id, case_id)
    row.key_id, row.employee_sealed = keys.seal(sealed_for(tenant_id, case_id), jsonable(employee))
    row.employee_given_at, row.employee_decision_id = now, decision_id


def kept_for_event(session: Session, case: Case, rows: list[CaseEvent], as_of: dt.date, *, rulebook,
                   keys) -> tuple[dict, dict]:
    """For a case event that leaves the employee record out: the facts the case keeps, loaded as
    a request's, and where they came from (the answer's `employee_from`). EmployeeRecordNeeded
    (422 naming `employee`) when it keeps none, or none this event can be decided on."""
    row = session.get(CaseRecheck, (case.tenant_id, case.id))
    if row is None or row.employee_sealed is None:
        raise EmployeeRecordNeeded({"employee": [
            f"Missing data for required field: case {case.id} keeps no employee facts to decide on (its first "
            "event carries them; a closed case keeps none). Send the employee record."]})
    try:
        # Loaded by the serving rule set's contract: its vocabulary declares the request fields.
        employee = rulebook.request_contract.employee().load(kept_employee(row, keys))
    except RecheckKeyError as exc:
        _log.error("case %s: its kept facts do not open: %s", case.id, exc)
        raise EmployeeRecordNeeded({"employee": [
            f"Missing data for required field: the facts case {case.id} keeps do not open with the configured "
            "re-check keys. Send the employee record."]}) from None
    except ValidationError:
        raise EmployeeRecordNeeded({"employee": [
            f"Missing data for required field: the facts case {case.id} keeps were given under an older "
            "contract. Send the employee record."]}) from None
    too_late = dates_after(employee, as_of)  # a kept fact dated after this event's as_of
    if too_late:
        raise EmployeeRecordNeeded(too_late)
    source = next((r for r in rows if r.decision_id == row.employee_decision_id), None)
    decided_as_of = None if row.employee_decision_id is None else session.scalar(
        select(TrailEntry.as_of).where(TrailEntry.entry_id == row.employee_decision_id))
    return employee, jsonable({"event_seq": source.seq if source else None, "decision_id": row.employee_decision_id,
                                "as_of": decided_as_of, "recorded_at": row.employee_given_at and aware(row.employee_given_at)})


def forget_case(session: Session, row: CaseRecheck | None) -> None:
    """A closed case's re-check row, facts and all: nothing is left to decide."""
    if row is not None:
        session.delete(row)


def kept_employee(row: CaseRecheck, keys) -> dict | None:
    """The employee facts kept for the case, opened; None when none are kept. RecheckKeyError
    when no configured key opens them."""
    if row.employee_sealed is None:
        return None
    return keys.open(sealed_for(row.tenant_id, row.case_id), row.key_id, row.employee_sealed)


def recheck_row(session: Session, tenant_id: str, case_id: str) -> CaseRecheck:
    """The tenant's case's re-check row, added when it has none yet."""
    row = session.get(CaseRecheck, (tenant_id, case_id))
    if row is None:
        row = CaseRecheck(tenant_id=tenant_id, case_id=case_id)
        session.add(row)
    return row


def sealed_again(row: CaseRecheck, employee: dict | None, keys) -> None:
    """Facts sealed with a replaced key are sealed again with the current one, so the old key can go."""
    if employee is not None and row.key_id != keys.current_id:
        row.key_id, row.employee_sealed = keys.seal(sealed_for(row.tenant_id, row.case_id), employee)


def remember_next_step(row: CaseRecheck, step: str, verdict: str, rule_ids: list[str], as_of: dt.date) -> None:
    """The next step as last decided, and its verdict: the next re-check tells HR when it changes."""
    row.next_step, row.verdict, row.rule_ids, row.checked_on = step, verdict, rule_ids, as_of


_log = logging.getLogger(__name__)

"""The daily re-check of every open case: its next step, decided again as of today.

A case's next step can become unlawful or late without anyone touching the case: the employee
of an approved resignation is now recorded as pregnant (an offboarding would be an Art. 42
termination), or a withdrawal is left pending past its deadline. Each day the worker asks the
rules about the step the case waits for, with the employee facts the EHR last gave for it, and
tells HR when the answer is no longer what it was (a step not decided before counts as allow).

Which action is a case's next step is a fact of the workflow (its status), not a rule; the
verdict is the rules' own answer through the same path as a check. The employee facts the EHR
gives with a case event, or with a check naming the case (`case_id`), are kept for this in
case_rechecks, sealed (service.record.recheck_keys), while the case is open; the row is deleted
when the case closes: the facts may hold health facts (PIPL Art. 28), and nothing else needs
them (PIPL Art. 19: no longer than the purpose needs). Facts no configured key opens are never
read as "nothing known": the case is skipped and the worker logs it, naming no fact.
"""
from __future__ import annotations

import datetime as dt
import logging

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.employee import dates_after
from service.decide.evaluation import evaluate
from service.record.case_trail import LedgerDisagreement
from service.decide.case_review import case_request
from service.record.ledger import EmployeeRecordNeeded, accepted_events, aware, jsonable
from service.record.models import Case, CaseEvent, CaseRecheck, Notification, TrailEntry
from service.record.notifications import notify, recheck_message
from service.record.recheck_keys import RecheckKeyError
from service.record.sla import overdue_key
from service.tenants import DEFAULT_TENANT


# The decision an approval step waits for, by the request it belongs to (approval_chains.yaml).
_APPROVAL_ACTION = {"resignation": "approve_resignation", "withdrawal": "approve_withdrawal"}
# With no approval pending: the separation itself, once the case is on its way to it.
_SEPARATION_ACTION = {"employer_termination": "execute_offboarding", "non_renewal": "non_renewal_at_expiry",
                      "mutual_agreement": "mutual_agreement_termination"}


def next_step(rulebook, case: Case, status: str, pending_step: str | None) -> tuple[str, str]:
    """(action, actor role) the case waits for: the pending approval, by its approver; else the
    offboarding of an approved resignation or a case being offboarded, or the separation a
    termination, non-renewal or agreement case is for; else a review by HR."""
    for request, steps in rulebook.context.process.chains.items():
        for step in steps:
            if step.step == pending_step:
                return _APPROVAL_ACTION[request], sorted(step.roles)[0]
    if status in ("approved", "offboarding"):
        return "execute_offboarding", "hr"
    if status == "open" and case.kind in _SEPARATION_ACTION:
        return _SEPARATION_ACTION[case.kind], "hr"
    return "review_case", "hr"


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
    if row is None:
        row = CaseRecheck(tenant_id=tenant_id, case_id=case_id)
        session.add(row)
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


def decide_next_step(rulebook, case: Case, events: list[dict], employee: dict | None, as_of: dt.date):
    """(status, next step, review, outcome) of an open case under `rulebook`: the step it waits
    for, decided as of `as_of` with the employee facts kept for it. The review (as HR would
    review the case) gives the pending step; the outcome is the step's own answer. Also what
    `rules diff` asks of each rule set (service/tools/case_impact.py)."""
    machine = rulebook.context.classification.machine
    status = machine.status(machine.run(events))
    review = evaluate(rulebook, _request(rulebook, case, events, employee, as_of, "review_case", "hr"))
    step, role = next_step(rulebook, case, status, review.facts.values.get("derived.case.pending.step"))
    outcome = review if step == "review_case" else \
        evaluate(rulebook, _request(rulebook, case, events, employee, as_of, step, role))
    return status, step, review, outcome


def recheck_open_cases(session: Session, as_of: dt.date, now: dt.datetime, *, rulebook, keys,
                       tenant_id: str | None = None, case_ids: list[str] | None = None) -> dict:
    """Re-decide every open case's next step as of `as_of` (of `tenant_id`'s cases, and of
    `case_ids`, when given), in the caller's transaction, with the serving rule book and the
    re-check keys (service/flows/recheck.py); notify HR of each changed verdict. Every tenant's
    cases by default (the caller's session sees all), each with its own tenant."""
    counts = {"as_of": as_of.isoformat(), "cases_checked": 0, "cases_skipped": 0, "verdicts_changed": 0,
              "notifications_created": 0}
    cases = select(Case).order_by(Case.tenant_id, Case.id)
    if tenant_id is not None:
        cases = cases.where(Case.tenant_id == tenant_id)
    if case_ids is not None:
        cases = cases.where(Case.id.in_(case_ids))
    for case in session.scalars(cases):
        try:
            events = accepted_events(session, case.id, tenant_id=case.tenant_id)
        except LedgerDisagreement as exc:  # decided on nothing until the ledger is put right
            _log.error("re-check of case %s skipped: %s", case.id, exc)
            counts["cases_skipped"] += 1
            continue
        machine = rulebook.context.classification.machine
        row = session.get(CaseRecheck, (case.tenant_id, case.id))
        if machine.closed(machine.run(events)):  # nothing is left to decide (case_states.yaml)
            forget_case(session, row)
            continue
        if row is None:
            row = CaseRecheck(tenant_id=case.tenant_id, case_id=case.id)
            session.add(row)
        try:
            employee = kept_employee(row, keys)
        except RecheckKeyError as exc:
            # Deciding without the facts could allow what they deny: leave the case for a key.
            _log.error("re-check of case %s skipped: %s", case.id, exc)
            counts["cases_skipped"] += 1
            continue
        if employee is not None and row.key_id != keys.current_id:
            # Sealed with a replaced key: sealed again with the current one, so the old key can go.
            row.key_id, row.employee_sealed = keys.seal(sealed_for(case.tenant_id, case.id), employee)
        status, step, review, outcome = decide_next_step(rulebook, case, events, employee, as_of)
        counts["cases_checked"] += 1
        rule_ids = sorted({f["rule_id"] for f in outcome.findings if f["verdict"] != "obligation"})
        # A step not decided before counts as allowed: HR hears when it stops being so.
        previous = row.verdict if row.next_step == step else None
        changed = outcome.verdict != (previous or "allow")
        if changed and not _told_by_the_sweep(session, case, review, outcome, previous):
            counts["verdicts_changed"] += 1
            created = notify(
                session, kind="recheck_changed", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
                case_id=case.id, employee_id=case.employee_id, tenant_id=case.tenant_id,
                dedupe_key=f"recheck:{case.id}:{as_of.isoformat()}:{step}:{outcome.verdict}",
                payload={"case_id": case.id, "employee_id": case.employee_id, "status": status,
                         "next_step": step, "from_verdict": previous,
                         "to_verdict": outcome.verdict, "rule_ids": rule_ids, "as_of": as_of.isoformat(),
                         "findings": [{"rule_id": f["rule_id"], "verdict": f["verdict"], "title": f["title"]}
                                      for f in outcome.findings if f["verdict"] != "obligation"],
                         "message": recheck_message(rulebook.names, case.id, step, previous, outcome.verdict,
                                                    status)})
            counts["notifications_created"] += created is not None
        row.next_step, row.verdict, row.rule_ids, row.checked_on = step, outcome.verdict, rule_ids, as_of
    return counts


def _told_by_the_sweep(session: Session, case: Case, review, outcome, previous: str | None) -> bool:
    """An allowed step now warned only for being late is not news: the SLA sweep (which runs
    before the re-check) has notified it, and escalates it a working day later. True when every
    finding that makes the verdict comes from a rule with `notify:` whose notification for this
    step and deadline exists. A step that was warned or denied for something else is news
    whatever its new verdict."""
    if previous not in (None, "allow"):
        return False
    values = review.facts.values
    pending = {"step": values.get(_PENDING + "step"), "due_on": values.get(_PENDING + "due_on")}
    notifying = {rule.id: rule.notify for rule in outcome.fired if rule.notify}
    deciding = {f["rule_id"] for f in outcome.findings if f["verdict"] == outcome.verdict}
    return bool(deciding) and all(
        rule_id in notifying and session.scalar(select(Notification.id).where(
            Notification.tenant_id == case.tenant_id, Notification.dedupe_key.in_(
            [overdue_key(case.id, pending, recipient) for recipient in notifying[rule_id]]))) is not None
        for rule_id in deciding)


_PENDING = "derived.case.pending."
_log = logging.getLogger(__name__)


def _request(rulebook, case: Case, events: list[dict], employee: dict | None, as_of: dt.date, action: str,
             role: str) -> dict:
    person = case.manager_id if role == "manager" else case.hr_owner_id
    employee = employee or {"id": case.employee_id}
    actor = {"id": person or role, "role": role}
    if role == "manager" and employee.get("department"):
        # The approver the case waits for is the employee's line manager, of the same department.
        actor["department"] = employee["department"]
    body = jsonable({"as_of": as_of, "employee": employee, "case": case_request(case, events),
                      "action": {"type": action, "actor": actor}})
    try:
        return rulebook.request_schema().load(body)
    except ValidationError:
        # Facts kept under an older contract: decide with the employee's id alone (unknowns warn).
        return rulebook.request_schema().load({**body, "employee": {"id": case.employee_id}})

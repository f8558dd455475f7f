"""The daily re-check of every open case: its next step, decided again as of today.

A case's next step can become unlawful or late without anyone touching the case: the employee
of an approved resignation is now recorded as pregnant (an offboarding would be an Art. 42
termination), or a withdrawal is left pending past its deadline. Each day the worker asks the
rules about the step the case waits for, with the employee facts the EHR last gave for it, and
tells HR when the answer is no longer what it was (a step not decided before counts as allow).

Which action is a case's next step is a fact of the workflow (its status), not a rule; the
verdict is the rules' own answer through the same path as a check. The employee facts the EHR
gives with a case event, or with a check naming the case (`case_id`), are kept for this in
case_rechecks while the case is open, and dropped when it closes: they may hold health facts
(PIPL Art. 28), and nothing else needs them.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.check import CheckRequestSchema
from service.decide.evaluation import evaluate
from service.record.ledger import _jsonable, accepted_events, case_request
from service.record.models import Case, CaseRecheck, Notification
from service.record.notifications import notify, recheck_message
from service.record.sla import overdue_key


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


def remember_employee(session: Session, case_id: str, employee: dict, now: dt.datetime) -> None:
    """Keep the employee facts just given for an open case, for its daily re-check."""
    row = session.get(CaseRecheck, case_id)
    if row is None:
        row = CaseRecheck(case_id=case_id)
        session.add(row)
    row.employee = _jsonable(employee)
    row.employee_given_at = now


def recheck_open_cases(session: Session, as_of: dt.date, now: dt.datetime) -> dict:
    """Re-decide every open case's next step as of `as_of`; notify HR of each changed verdict."""
    rulebook = current_app.extensions["rulebook"]
    counts = {"as_of": as_of.isoformat(), "cases_checked": 0, "verdicts_changed": 0, "notifications_created": 0}
    for case in session.scalars(select(Case).order_by(Case.id)):
        events = accepted_events(session, case.id)
        machine = rulebook.context.classification.machine
        state = machine.run(events)
        status = machine.status(state)
        row = session.get(CaseRecheck, case.id)
        if machine.closed(state):  # nothing is left to decide (case_states.yaml)
            if row is not None and row.employee is not None:
                row.employee = None  # the case is closed: its facts are no longer needed
            continue
        if row is None:
            row = CaseRecheck(case_id=case.id)
            session.add(row)
        review = evaluate(rulebook, _request(case, events, row, as_of, "review_case", "hr"))
        step, role = next_step(rulebook, case, status, review.facts.values.get("derived.case.pending.step"))
        outcome = review if step == "review_case" else evaluate(rulebook, _request(case, events, row, as_of, step, role))
        counts["cases_checked"] += 1
        rule_ids = sorted({f["rule_id"] for f in outcome.findings if f["verdict"] != "obligation"})
        # A step not decided before counts as allowed: HR hears when it stops being so.
        previous = row.verdict if row.next_step == step else None
        changed = outcome.verdict != (previous or "allow")
        if changed and not _told_by_the_sweep(session, case, review, outcome, previous):
            counts["verdicts_changed"] += 1
            created = notify(
                session, kind="recheck_changed", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
                case_id=case.id, employee_id=case.employee_id,
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
        rule_id in notifying and session.scalar(select(Notification.id).where(Notification.dedupe_key.in_(
            [overdue_key(case.id, pending, recipient) for recipient in notifying[rule_id]]))) is not None
        for rule_id in deciding)


_PENDING = "derived.case.pending."


def _request(case: Case, events: list[dict], row: CaseRecheck, as_of: dt.date, action: str, role: str) -> dict:
    person = case.manager_id if role == "manager" else case.hr_owner_id
    employee = row.employee or {"id": case.employee_id}
    actor = {"id": person or role, "role": role}
    if role == "manager" and employee.get("department"):
        # The approver the case waits for is the employee's line manager, of the same department.
        actor["department"] = employee["department"]
    body = _jsonable({"as_of": as_of, "employee": employee, "case": case_request(case, events),
                      "action": {"type": action, "actor": actor}})
    try:
        return CheckRequestSchema().load(body)
    except ValidationError:
        # Facts kept under an older contract: decide with the employee's id alone (unknowns warn).
        return CheckRequestSchema().load({**body, "employee": {"id": case.employee_id}})

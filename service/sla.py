"""The SLA sweep: which case steps are overdue as of a date, and who must hear about it.

Whether a step is overdue is the rules' answer (a process rule that fires on the case); which
rules notify whom is in the rule files (`notify:`). The sweep only asks and queues.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.clock import utcnow
from service.ledger import accepted_events, review_case
from service.models import Case
from service.notifications import notify

def sweep(session: Session, as_of: dt.date) -> dict:
    rulebook = current_app.extensions["rulebook"]
    machine = rulebook.context.classification.machine
    counts = {"as_of": as_of, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0}
    now = utcnow()
    for case in session.scalars(select(Case).order_by(Case.id)):
        events = accepted_events(session, case.id)
        if machine.closed(machine.run(events)):  # archived or offboarded: nothing left to decide
            continue
        counts["cases_checked"] += 1
        review = review_case(rulebook, case, events, as_of)
        pending = review.pending
        messages = {f["rule_id"]: f["message"] for f in review.findings}
        for rule in review.outcome.fired:
            if not rule.notify:
                continue
            counts["overdue_steps"] += 1
            for recipient in rule.notify:
                role, person = _recipient(recipient, case, pending)
                created = notify(
                    session, kind="step_overdue", now=now, recipient_role=role, recipient_id=person,
                    case_id=case.id, employee_id=case.employee_id,
                    dedupe_key=f"overdue:{case.id}:{pending.get('step')}:{pending.get('due_on')}:{recipient}",
                    payload={"case_id": case.id, "employee_id": case.employee_id, "rule_id": rule.id,
                             "step": pending.get("step"), "due_on": pending.get("due_on"),
                             "working_days_late": pending.get("working_days_late"),
                             "as_of": as_of.isoformat(), "reason": recipient,
                             "message": messages[rule.id]})
                counts["notifications_created"] += created is not None
    return counts


def _recipient(recipient: str, case: Case, pending: dict) -> tuple[str, str | None]:
    """(role, person) to notify. Only the case's HR owner and the employee's manager are known by
    id; anyone else (the approver's own manager, the head of HR) is addressed by role."""
    if recipient == "hr_owner":
        return "hr", case.hr_owner_id
    target = pending.get("escalate_to") if recipient == "escalation" else pending.get("approver")
    known = {"manager": case.manager_id, "hr": case.hr_owner_id}
    if target == "approver_manager":
        return "manager", None
    return target or "hr", known.get(target)

"""The SLA sweep: which case steps are overdue as of a date, and who must hear about it.

Whether a step is overdue is the rules' answer (a process rule that fires on the case); which
rules notify whom is in the rule files (`notify:`), and the escalation target of each step in
rules/process/config/sla.yaml (`escalate_to`, validated at start-up). The sweep only asks and
queues: the pending approver is reminded from the first working day late, and the escalation
target hears one working day after that, if the step is still waiting.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.clock import utcnow
from service.evaluation import evaluate
from service.ledger import accepted_events, case_request, case_status
from service.models import Case
from service.notifications import notify

_CLOSED = ("archived", "offboarded")
# The approver gets a working day to act on the reminder before it goes over their head.
ESCALATE_AFTER_WORKING_DAYS = 1


def sweep(session: Session, as_of: dt.date) -> dict:
    rulebook = current_app.extensions["rulebook"]
    counts = {"as_of": as_of, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0}
    now = utcnow()
    for case in session.scalars(select(Case).order_by(Case.id)):
        events = accepted_events(session, case.id)
        if case_status(events)["status"] in _CLOSED:
            continue
        counts["cases_checked"] += 1
        outcome = evaluate(rulebook, {"as_of": as_of, "employee": {"id": case.employee_id},
                                      "case": case_request(case, events), "action": {"type": "review_case"}})
        pending = {n.removeprefix("derived.case.pending."): v for n, v in outcome.facts.values.items()
                   if n.startswith("derived.case.pending.")}
        messages = {f["rule_id"]: f["message"] for f in outcome.findings}
        for rule in outcome.fired:
            if not rule.notify:
                continue
            counts["overdue_steps"] += 1
            late = pending.get("working_days_late")
            for recipient in rule.notify:
                escalation = recipient == "escalation"
                if escalation and not (isinstance(late, int) and late > ESCALATE_AFTER_WORKING_DAYS):
                    continue  # not yet: the reminder comes first
                role, person = _recipient(recipient, case, pending)
                created = notify(
                    session, kind="step_escalated" if escalation else "step_overdue", now=now, recipient_role=role, recipient_id=person,
                    case_id=case.id, employee_id=case.employee_id,
                    dedupe_key=f"overdue:{case.id}:{pending.get('step')}:{pending.get('due_on')}:{recipient}",
                    payload={"case_id": case.id, "employee_id": case.employee_id, "rule_id": rule.id,
                             "step": pending.get("step"), "due_on": pending.get("due_on"),
                             "working_days_late": pending.get("working_days_late"),
                             "as_of": as_of.isoformat(), "reason": recipient,
                             "message": escalation_message(case.id, pending) if escalation
                             else messages[rule.id]})
                counts["notifications_created"] += created is not None
    return counts


def escalation_message(case_id: str, pending: dict) -> dict:
    return {"zh": f"上报：离职案件 {case_id} 的“{pending.get('step_zh')}”已逾期{pending.get('working_days_late')}个工作日"
                  f"（应于{pending.get('due_on')}前完成），已提醒待审批人（{pending.get('approver_zh')}）但仍未处理，"
                  f"请{pending.get('escalate_to_zh')}跟进。",
            "en": f"Escalation: the {pending.get('step_en')} of separation case {case_id} is "
                  f"{pending.get('working_days_late')} working days late (due by the end of {pending.get('due_on')}); "
                  f"the pending approver ({pending.get('approver_en')}) was reminded and has not acted. "
                  f"For {pending.get('escalate_to_en')} to follow up."}


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

"""The SLA sweep: which case steps are overdue as of a date, and who must hear about it.

Whether a step is overdue is the rules' answer (a process rule that fires on the case); which
rules notify whom is in the rule files (`notify:`), and the escalation target of each step in
rules/process/config/sla.yaml (`escalate_to`, validated at start-up). The sweep only asks and
queues: the pending approver is reminded from the first working day late, and the escalation
target hears one working day after that, if the step is still waiting.

A sweep as of a day after today in China is a dry run: it answers which notifications it would
queue and queues none. A step is not overdue before its day comes, and a reminder sent early
cannot be taken back (it is also never sent again for that step and deadline).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.clock import utcnow
from service.record.ledger import accepted_events, review_case
from schemas.fields import CHINA
from service.record.models import Case, Notification
from service.record.notifications import notify

# The approver gets a working day to act on the reminder before it goes over their head.
ESCALATE_AFTER_WORKING_DAYS = 1


def sweep(session: Session, as_of: dt.date) -> dict:
    rulebook = current_app.extensions["rulebook"]
    machine = rulebook.context.classification.machine
    now = utcnow()
    dry_run = as_of > now.astimezone(CHINA).date()
    counts = {"as_of": as_of, "dry_run": dry_run, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0}
    planned: list[dict] = []
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
            late = pending.get("working_days_late")
            reminded_now = False
            # The reminder before the escalation, so the escalation can say whether it went out earlier.
            for recipient in sorted(rule.notify, key=lambda r: r == "escalation"):
                escalation = recipient == "escalation"
                if escalation and not (isinstance(late, int) and late > ESCALATE_AFTER_WORKING_DAYS):
                    continue  # not yet: the reminder comes first
                role, person = _recipient(recipient, case, pending)
                kind = "step_escalated" if escalation else "step_overdue"
                dedupe_key = f"overdue:{case.id}:{pending.get('step')}:{pending.get('due_on')}:{recipient}"
                if dry_run:
                    if not _queued(session, dedupe_key):
                        planned.append({"kind": kind, "case_id": case.id, "recipient_role": role,
                                        "recipient_id": person, "step": pending.get("step"),
                                        "due_on": pending.get("due_on"), "reason": recipient})
                        reminded_now = reminded_now or recipient == "pending_approver"
                    continue
                created = notify(
                    session, kind=kind, now=now, recipient_role=role, recipient_id=person,
                    case_id=case.id, employee_id=case.employee_id, dedupe_key=dedupe_key,
                    payload={"case_id": case.id, "employee_id": case.employee_id, "rule_id": rule.id,
                             "step": pending.get("step"), "due_on": pending.get("due_on"),
                             "working_days_late": pending.get("working_days_late"),
                             "as_of": as_of.isoformat(), "reason": recipient,
                             "message": escalation_message(case.id, pending, reminded_earlier=not reminded_now)
                             if escalation else messages[rule.id]})
                counts["notifications_created"] += created is not None
                reminded_now = reminded_now or (recipient == "pending_approver" and created is not None)
    if dry_run:  # nothing created; what would be, in `notifications`
        counts["notifications"] = planned
    return counts


def _queued(session: Session, dedupe_key: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)) is not None


def escalation_message(case_id: str, pending: dict, reminded_earlier: bool = True) -> dict:
    """`reminded_earlier`: the approver's reminder went out in an earlier sweep; else the step was
    already more than a working day late when first found (the worker was down, or the events
    were recorded late), and the reminder goes out with this escalation."""
    zh_approver = (f"已提醒待审批人（{pending.get('approver_zh')}）但仍未处理" if reminded_earlier
                   else f"首次发现时已逾期超过一个工作日，待审批人（{pending.get('approver_zh')}）同时收到提醒")
    en_approver = (f"the pending approver ({pending.get('approver_en')}) was reminded and has not acted" if reminded_earlier
                   else f"it was already more than a working day late when first found, and the pending approver "
                        f"({pending.get('approver_en')}) is reminded at the same time")
    return {"zh": f"上报：离职案件 {case_id} 的“{pending.get('step_zh')}”已逾期{pending.get('working_days_late')}个工作日"
                  f"（应于{pending.get('due_on')}前完成），{zh_approver}，请{pending.get('escalate_to_zh')}跟进。",
            "en": f"Escalation: the {pending.get('step_en')} of separation case {case_id} is "
                  f"{pending.get('working_days_late')} working days late (due by the end of {pending.get('due_on')}); "
                  f"{en_approver}. For {pending.get('escalate_to_en')} to follow up."}


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

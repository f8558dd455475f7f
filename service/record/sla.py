"""The SLA sweep's notifications: who must hear that a case step is overdue, and when (the sweep
itself, which reviews each open case: service/flows/sla_sweep.py).

Whether a step is overdue is the rules' answer (a process rule that fires on the case); which
rules notify whom is in the rule files (`notify:`), and the escalation target of each step in
rules/process/config/sla.yaml (`escalate_to`, validated at start-up). The sweep only asks and
queues: the pending approver is reminded when the step is first found late, and the escalation
target hears `escalate_after_working_days` after that reminder (sla.yaml, POL-SLA-6.3; one working
day by default), if the step is still waiting; never both at once, however late the step was when
first found.

A sweep as of a day after today in China is a dry run: it answers which notifications it would
queue and queues none. A step is not overdue before its day comes, and a reminder sent early
cannot be taken back (it is also never sent again for that step and deadline).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record.models import Case, Notification


def was_queued(session: Session, dedupe_key: str, *, tenant_id: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.tenant_id == tenant_id,
                                                        Notification.dedupe_key == dedupe_key)) is not None


def overdue_key(case_id: str, pending: dict, recipient: str) -> str:
    """Once per step, deadline and recipient (the re-check looks the sweep's notifications up by it)."""
    return f"overdue:{case_id}:{pending.get('step')}:{pending.get('due_on')}:{recipient}"


def reminded_on_day(session: Session, case: Case, pending: dict, rule) -> str | None:
    """The day (as of) the pending approver's reminder for this step and deadline was queued."""
    if "pending_approver" not in rule.notify:
        return None
    reminder = session.scalar(select(Notification).where(
        Notification.tenant_id == case.tenant_id,
        Notification.dedupe_key == overdue_key(case.id, pending, "pending_approver")))
    return reminder.payload.get("as_of") if reminder is not None else None


def escalation_due(rulebook, pending: dict, rule, reminded_on: str | None, as_of: dt.date, grace: int) -> bool:
    """`grace` working days after the reminder (sla.yaml), never with it: a step first found long overdue (the
    worker was down, the events were recorded late) still gives its approver that day. A rule
    that names no pending approver escalates `grace` working days after the deadline."""
    if "pending_approver" in rule.notify:
        if reminded_on is None:
            return False
        return rulebook.context.calendar.working_days_between(
            dt.date.fromisoformat(reminded_on), as_of) >= grace
    late = pending.get("working_days_late")
    return isinstance(late, int) and late > grace


def escalation_message(case_id: str, pending: dict, reminded_on: str | None) -> dict:
    """`reminded_on`: the day the pending approver was reminded (None: the rule reminds nobody)."""
    if reminded_on:
        zh_approver = f"已于{reminded_on}提醒待审批人（{pending.get('approver_zh')}）但仍未处理"
        en_approver = (f"the pending approver ({pending.get('approver_en')}) was reminded on {reminded_on} "
                       "and has not acted")
    else:
        zh_approver = f"待审批人（{pending.get('approver_zh')}）仍未处理"
        en_approver = f"the pending approver ({pending.get('approver_en')}) has not acted"
    return {"zh": f"上报：离职案件 {case_id} 的“{pending.get('step_zh')}”已逾期{pending.get('working_days_late')}个工作日"
                  f"（应于{pending.get('due_on')}前完成），{zh_approver}，请{pending.get('escalate_to_zh')}跟进。",
            "en": f"Escalation: the {pending.get('step_en')} of separation case {case_id} is "
                  f"{pending.get('working_days_late')} working days late (due by the end of {pending.get('due_on')}); "
                  f"{en_approver}. For {pending.get('escalate_to_en')} to follow up."}


def recipient_of(recipient: str, case: Case, pending: dict) -> tuple[str, str | None]:
    """(role, person) to notify. Only the case's HR owner and the employee's manager are known by
    id; anyone else (the approver's own manager, the head of HR) is addressed by role."""
    if recipient == "hr_owner":
        return "hr", case.hr_owner_id
    target = pending.get("escalate_to") if recipient == "escalation" else pending.get("approver")
    known = {"manager": case.manager_id, "hr": case.hr_owner_id}
    if target == "approver_manager":
        return "manager", None
    return target or "hr", known.get(target)

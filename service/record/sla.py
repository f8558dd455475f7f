"""The SLA sweep: which case steps are overdue as of a date, and who must hear about it.

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
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.clock import day_in_china
from service.record.case_trail import LedgerDisagreement
from service.decide.case_review import review_case
from service.record.ledger import accepted_events
from service.record.models import Case, Notification
from service.record.notifications import notify

_log = logging.getLogger(__name__)


def sweep(session: Session, rulebook, as_of: dt.date, now: dt.datetime) -> dict:
    """One sweep in the caller's transaction, with the serving rule book, at `now` (service/flows/sla_sweep.py)."""
    process = rulebook.context.process
    machine = rulebook.context.classification.machine
    dry_run = as_of > day_in_china(now)
    counts = {"as_of": as_of, "dry_run": dry_run, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0}
    planned: list[dict] = []
    for case in session.scalars(select(Case).order_by(Case.id)):
        try:
            events = accepted_events(session, case.id)
        except LedgerDisagreement as exc:  # decided on nothing until the ledger is put right
            _log.error("SLA sweep skipped case %s: %s", case.id, exc)
            continue
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
                escalation = recipient == "escalation"
                reminded_on = None
                if escalation:
                    reminded_on = _reminded_on(session, case, pending, rule)
                    grace = process.step(pending["step"]).sla.escalate_after_working_days
                    if not _escalation_due(rulebook, pending, rule, reminded_on, as_of, grace):
                        continue  # the approver first gets a working day to act on the reminder
                role, person = _recipient(recipient, case, pending)
                kind = "step_escalated" if escalation else "step_overdue"
                dedupe_key = overdue_key(case.id, pending, recipient)
                if dry_run:  # a reminder it would send now is not one sent earlier: no escalation with it
                    if not _queued(session, dedupe_key):
                        planned.append({"kind": kind, "case_id": case.id, "recipient_role": role,
                                        "recipient_id": person, "step": pending.get("step"),
                                        "due_on": pending.get("due_on"), "reason": recipient})
                    continue
                created = notify(
                    session, kind=kind, now=now, recipient_role=role,
                    recipient_id=person, case_id=case.id, employee_id=case.employee_id,
                    dedupe_key=dedupe_key,
                    payload={"case_id": case.id, "employee_id": case.employee_id, "rule_id": rule.id,
                             "step": pending.get("step"), "due_on": pending.get("due_on"),
                             "working_days_late": pending.get("working_days_late"),
                             "as_of": as_of.isoformat(), "reason": recipient,
                             "message": escalation_message(case.id, pending, reminded_on)
                             if escalation else messages[rule.id]})
                counts["notifications_created"] += created is not None
    if dry_run:  # nothing created; what would be, in `notifications`
        counts["notifications"] = planned
    return counts


def _queued(session: Session, dedupe_key: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)) is not None


def overdue_key(case_id: str, pending: dict, recipient: str) -> str:
    """Once per step, deadline and recipient (the re-check looks the sweep's notifications up by it)."""
    return f"overdue:{case_id}:{pending.get('step')}:{pending.get('due_on')}:{recipient}"


def _reminded_on(session: Session, case: Case, pending: dict, rule) -> str | None:
    """The day (as of) the pending approver's reminder for this step and deadline was queued."""
    if "pending_approver" not in rule.notify:
        return None
    reminder = session.scalar(select(Notification).where(
        Notification.dedupe_key == overdue_key(case.id, pending, "pending_approver")))
    return reminder.payload.get("as_of") if reminder is not None else None


def _escalation_due(rulebook, pending: dict, rule, reminded_on: str | None, as_of: dt.date, grace: int) -> bool:
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

"""The SLA sweep: steps overdue as of a day, each notified once per step and deadline (whom and
when to tell: service/record/sla.py). The worker runs it every minute; POST /v1/sla/sweep and
`separation-guard sla sweep` run it on demand."""
from __future__ import annotations

import datetime as dt
import logging

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.clock import day_in_china, utcnow
from service.decide.case_review import review_case
from service.flows.packs_live import rulebook_for
from service.flows.fair import run_fair
from service.record.case_trail import LedgerDisagreement
from service.record.ledger import accepted_events
from service.record.models import Case
from service.record.notifications import notify
from service.record.sla import (escalation_due, escalation_message, overdue_key, recipient_of, reminded_on_day,
                                was_queued)

_log = logging.getLogger(__name__)


def sweep_overdue(app: Flask, as_of: dt.date, tenant: str | None = None, **budget) -> dict:
    """One sweep as of `as_of`: of one tenant's cases (POST /v1/sla/sweep, by its key), or of
    every tenant's (None: the worker, the command), each tenant's in turn, a batch per transaction
    in a session of that tenant, with its pack (service/flows/fair.py; `budget`: its max_batches or seconds). As
    of a day after today in China it is a dry run: it queues nothing and lists what it would."""
    now = utcnow()
    counts = run_fair(app.extensions["db_sessions"], lambda session, tenant_id, case_ids: sweep(
        session, rulebook_for(app, tenant_id), as_of, now, tenant_id=tenant_id, case_ids=case_ids), tenant=tenant, **budget)
    dry_run = as_of > day_in_china(now)
    ordered = {"as_of": as_of, "dry_run": dry_run, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0,
               **({"notifications": []} if dry_run else {})}
    return {**ordered, **counts}


def sweep(session: Session, rulebook, as_of: dt.date, now: dt.datetime, *, tenant_id: str | None = None,
          case_ids: list[str] | None = None) -> dict:
    """One sweep in the caller's transaction, with the serving rule book, at `now`: each open case
    (of `tenant_id`, or of every tenant; of `case_ids` only, when given) reviewed as of the day
    (decide/), its overdue steps notified once (record/), each in its case's tenant."""
    process = rulebook.context.process
    machine = rulebook.context.classification.machine
    dry_run = as_of > day_in_china(now)
    counts = {"as_of": as_of, "dry_run": dry_run, "cases_checked": 0, "overdue_steps": 0, "notifications_created": 0}
    planned: list[dict] = []
    cases = select(Case).order_by(Case.tenant_id, Case.id)
    if case_ids is not None:
        cases = cases.where(Case.id.in_(case_ids))
    for case in session.scalars(cases if tenant_id is None else cases.where(Case.tenant_id == tenant_id)):
        try:
            events = accepted_events(session, case.id, tenant_id=case.tenant_id)
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
                    reminded_on = reminded_on_day(session, case, pending, rule)
                    grace = process.step(pending["step"]).sla.escalate_after_working_days
                    if not escalation_due(rulebook, pending, rule, reminded_on, as_of, grace):
                        continue  # the approver first gets a working day to act on the reminder
                role, person = recipient_of(recipient, case, pending)
                kind = "step_escalated" if escalation else "step_overdue"
                dedupe_key = overdue_key(case.id, pending, recipient)
                if dry_run:  # a reminder it would send now is not one sent earlier: no escalation with it
                    if not was_queued(session, dedupe_key, tenant_id=case.tenant_id):
                        planned.append({"kind": kind, "case_id": case.id, "recipient_role": role,
                                        "recipient_id": person, "step": pending.get("step"),
                                        "due_on": pending.get("due_on"), "reason": recipient})
                    continue
                created = notify(
                    session, kind=kind, now=now, recipient_role=role,
                    recipient_id=person, case_id=case.id, employee_id=case.employee_id,
                    dedupe_key=dedupe_key, tenant_id=case.tenant_id,
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

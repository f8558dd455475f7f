"""The daily re-check: every open case's next step decided again as of today in China, with the
employee facts kept for it (sealed: service/record/rechecks.py), and HR told of each changed
verdict. The worker runs it once a day, after the SLA sweep.

A case's next step can become unlawful or late without anyone touching the case: the employee
of an approved resignation is now recorded as pregnant (an offboarding would be an Art. 42
termination), or a withdrawal is left pending past its deadline. Each day the rules are asked
about the step the case waits for, with the employee facts the EHR last gave for it, and HR is
told when the answer is no longer what it was (a step not decided before counts as allow).

Which action is a case's next step is a fact of the workflow (its status), not a rule; the
verdict is the rules' own answer through the same path as a check. Facts no configured key opens
are never read as "nothing known": the case is skipped and logged, naming no fact.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import Flask
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.decide.case_review import case_request
from service.decide.evaluation import evaluate
from service.flows.fair import run_fair
from service.flows.packs_live import rulebook_for
from service.record.case_trail import LedgerDisagreement
from service.record.ledger import accepted_events, jsonable
from service.record.models import Case, CaseRecheck
from service.record.notifications import notify, recheck_message
from service.record.recheck_keys import RecheckKeyError
from service.record.rechecks import forget_case, kept_employee, recheck_row, remember_next_step, sealed_again
from service.record.sla import overdue_key, was_queued

_log = logging.getLogger(__name__)

# The decision an approval step waits for, by the request it belongs to (approval_chains.yaml).
_APPROVAL_ACTION = {"resignation": "approve_resignation", "withdrawal": "approve_withdrawal"}
# With no approval pending: the separation itself, once the case is on its way to it.
_SEPARATION_ACTION = {"employer_termination": "execute_offboarding", "non_renewal": "non_renewal_at_expiry",
                      "mutual_agreement": "mutual_agreement_termination"}
_PENDING = "derived.case.pending."


def recheck(app: Flask, as_of: dt.date, now: dt.datetime, **budget) -> dict:
    """One re-check of every open case: each tenant's cases in turn, with its pack, a batch per
    transaction (service/flows/fair.py; `budget`: its max_batches or seconds)."""
    keys = app.extensions["recheck_keys"]
    counts = run_fair(app.extensions["db_sessions"], lambda session, tenant, case_ids: recheck_open_cases(
        session, as_of, now, rulebook=rulebook_for(app, tenant), keys=keys, tenant_id=tenant, case_ids=case_ids),
        **budget)
    ordered = {"as_of": as_of.isoformat(), "cases_checked": 0, "cases_skipped": 0, "verdicts_changed": 0,
               "notifications_created": 0}
    return {**ordered, **counts}


def recheck_open_cases(session: Session, as_of: dt.date, now: dt.datetime, *, rulebook, keys,
                       tenant_id: str, case_ids: list[str] | None = None) -> dict:
    """Re-decide every open case of the tenant's (of `case_ids` only, when given) as of `as_of`, in
    the caller's transaction, with its rule book (its pack's) and the re-check keys; notify HR of
    each changed verdict."""
    counts = {"as_of": as_of.isoformat(), "cases_checked": 0, "cases_skipped": 0, "verdicts_changed": 0,
              "notifications_created": 0}
    machine = rulebook.context.classification.machine
    cases = select(Case).where(Case.tenant_id == tenant_id).order_by(Case.id)
    for case in session.scalars(cases if case_ids is None else cases.where(Case.id.in_(case_ids))):
        try:
            events = accepted_events(session, case.id, tenant_id=case.tenant_id)
        except LedgerDisagreement as exc:  # decided on nothing until the ledger is put right
            _log.error("re-check of case %s skipped: %s", case.id, exc)
            counts["cases_skipped"] += 1
            continue
        if machine.closed(machine.run(events)):  # nothing is left to decide (case_states.yaml)
            forget_case(session, session.get(CaseRecheck, (case.tenant_id, case.id)))
            continue
        row = recheck_row(session, case.tenant_id, case.id)
        try:
            employee = kept_employee(row, keys)
        except RecheckKeyError as exc:
            # Deciding without the facts could allow what they deny: leave the case for a key.
            _log.error("re-check of case %s skipped: %s", case.id, exc)
            counts["cases_skipped"] += 1
            continue
        sealed_again(row, employee, keys)
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
        remember_next_step(row, step, outcome.verdict, rule_ids, as_of)
    return counts


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


def decide_next_step(rulebook, case: Case, events: list[dict], employee: dict | None, as_of: dt.date):
    """(status, next step, review, outcome) of an open case under `rulebook`: the step it waits
    for, decided as of `as_of` with the employee facts kept for it. The review (as HR would
    review the case) gives the pending step; the outcome is the step's own answer. Also what
    `rules diff` asks of each rule set (service/tools/case_impact.py)."""
    machine = rulebook.context.classification.machine
    status = machine.status(machine.run(events))
    review = evaluate(rulebook, _request(rulebook, case, events, employee, as_of, "review_case", "hr"))
    step, role = next_step(rulebook, case, status, review.facts.values.get(_PENDING + "step"))
    outcome = review if step == "review_case" else \
        evaluate(rulebook, _request(rulebook, case, events, employee, as_of, step, role))
    return status, step, review, outcome


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
        rule_id in notifying and any(was_queued(session, overdue_key(case.id, pending, recipient),
                                                    tenant_id=case.tenant_id)
                                     for recipient in notifying[rule_id])
        for rule_id in deciding)


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

"""The case ledger's storage: cases, their events (case_events, proved by the trail:
service/record/case_trail.py) and the notifications an event sends. Recording an event, checked
by the rules first, is the case-event flow (service/flows/case_event.py). The case row is locked
for the whole append, so two writers on one case take turns and the second sees the first's
event (a second decision on the same withdrawal is then refused by the rules).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.decide.evaluation import Outcome
from service.decide.names import Names
from service.record.case_trail import case_rows
from service.record.models import Case, CaseEvent
from service.record.notifications import notify, refusal_message, status_change_message


class EmployeeRecordNeeded(Exception):
    """422: the event leaves the employee record out and the case keeps no facts to use instead,
    or kept facts the event cannot be decided on. `errors`: marshmallow-style, under `employee`."""

    def __init__(self, errors: dict) -> None:
        self.errors = errors
        super().__init__(str(errors))


class CaseConflict(Exception):
    """The request contradicts the case as recorded (another employee, another kind)."""


class ClientKeyReused(CaseConflict):
    """A client key sent again with another request: refused, as payment APIs refuse it, rather
    than answered with the first request's answer while the new event is dropped."""


def event_dict(event: CaseEvent) -> dict:
    actor = {"id": event.actor_id, "role": event.actor_role}
    if event.actor_department:
        actor["department"] = event.actor_department
    out = {"type": event.type, "at": aware(event.at), "actor": actor}  # UTC, as every answer
    if event.received_at:
        out["received_at"] = aware(event.received_at)
    if event.form:
        out["form"] = event.form
    if event.note:
        out["note"] = event.note
    return out


def accepted_events(session: Session, case_id: str, *, tenant_id: str) -> list[dict]:
    """The tenant's case's accepted events, as every decision about the case reads them: only once
    its rows agree with its trail entries (service.record.case_trail), else LedgerDisagreement."""
    return [event_dict(e) for e in case_rows(session, case_id, tenant_id=tenant_id) if e.accepted]


def find_case(session: Session, case_id: str, *, tenant_id: str) -> Case | None:
    """The tenant's case `case_id` (None: it has none; another tenant's case of that id is not it)."""
    return session.get(Case, (tenant_id, case_id))


def lock_or_create_case(session: Session, case_id: str, body: dict, now: dt.datetime, *, tenant_id: str) -> Case:
    """The tenant's case row, locked for the whole append (created by its first event, which names its kind)."""
    locked = select(Case).where(Case.tenant_id == tenant_id, Case.id == case_id).with_for_update()
    case = session.scalar(locked)
    if case is not None:
        return case
    if "case" not in body:
        raise CaseConflict(f"case {case_id} does not exist yet: its first event must carry case.kind")
    try:
        with session.begin_nested():
            session.add(Case(tenant_id=tenant_id, id=case_id, kind=body["case"]["kind"],
                             employee_id=body["employee"]["id"], hr_owner_id=body["case"].get("hr_owner_id"),
                             manager_id=body["case"].get("manager_id"), created_at=now, event_count=0))
    except IntegrityError:
        pass  # another writer created it first; take its lock below
    return session.scalar(locked)


def notify_status_change(session, names: Names, case: Case, row: CaseEvent, before: dict, after: dict, now) -> None:
    payload = {"case_id": case.id, "employee_id": case.employee_id, "event": row.type,
               "by": {"id": row.actor_id, "role": row.actor_role},
               "from_status": before["status"], "to_status": after["status"],
               "message": status_change_message(names, case.id, before["status"], after["status"])}
    notify(session, kind="status_changed", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
           payload=payload, dedupe_key=f"status:{case.id}:{row.seq}", case_id=case.id,
           employee_id=case.employee_id, tenant_id=case.tenant_id)


def notify_refusal(session, names: Names, case: Case, row: CaseEvent, outcome: Outcome, now) -> None:
    payload = {"case_id": case.id, "employee_id": case.employee_id, "event": row.type,
               "by": {"id": row.actor_id, "role": row.actor_role},
               "rule_ids": sorted({f["rule_id"] for f in outcome.findings if f["verdict"] == "deny"}),
               "message": refusal_message(names, case.id, row.type)}
    notify(session, kind="event_refused", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
           payload=payload, dedupe_key=f"refused:{case.id}:{row.seq}", case_id=case.id,
           employee_id=case.employee_id, tenant_id=case.tenant_id)


def event_row(case: Case, seq: int, body: dict, accepted: bool, now: dt.datetime, decision_id: str,
              digest: str) -> CaseEvent:
    """The case_events row of one event (its answer is set once it is known: the replayed one)."""
    event = body["event"]
    return CaseEvent(tenant_id=case.tenant_id, case_id=case.id, case_opened_at=case.created_at, seq=seq,
                     client_key=body["client_key"], accepted=accepted,
                     type=event["type"], at=event["at"], received_at=event.get("received_at"),
                     actor_id=event["actor"]["id"],
                     actor_role=event["actor"]["role"], actor_department=event["actor"].get("department"),
                     form=event.get("form"), note=event.get("note"), recorded_at=now,
                     decision_id=decision_id, response_status=0, body_digest=digest)


REFUSED_MESSAGE = "The event was refused: the rules deny it. The refusal is recorded."


def event_answer(row: CaseEvent, verdict: str, findings: list[dict], case_status: dict, extra: dict,
                 receipt: dict) -> dict:
    """An event's answer (JSON-ready), the first time (service.flows.case_event) and for a
    repeated client key (service.flows.case_replay): 201 with the case's status after an accepted
    event; 409, the error shape, with its status before a refused one. `extra`: `assumed` and
    `employee_from`, when there are any."""
    head = {} if row.accepted else {"code": 409, "status": "Conflict", "message": REFUSED_MESSAGE}
    return jsonable({**head, "event": event_out(row), "decision_id": row.decision_id, "verdict": verdict,
                     "findings": findings, "case": case_status, **extra, "receipt": receipt})


def event_out(row: CaseEvent) -> dict:
    """An event as the API shows it (JSON-ready: it is also stored as the replayed answer)."""
    return jsonable({"seq": row.seq, "accepted": row.accepted, **event_dict(row),
                      "recorded_at": aware(row.recorded_at), "decision_id": row.decision_id,
                      "client_key": row.client_key})


def jsonable(value):
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def aware(value: dt.datetime) -> dt.datetime:
    """In UTC: an answer gives every date-time in UTC, whether it was just received (+08:00
    perhaps) or read back from the database."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)

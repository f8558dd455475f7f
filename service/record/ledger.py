"""The case ledger: the service as the system of record for separation cases.

An event is checked by the same rules as a pre-action check (the event is the proposed
action) before it is stored. A deny refuses it (409) and the refusal is recorded too. The case
row is locked for the whole append, so two writers on one case take turns and the second sees
the first's event (a second decision on the same withdrawal is then refused by the rules).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.clock import day_in_china, utcnow
from service.decide.evaluation import Outcome, evaluate, with_declarations
from service.record.case_trail import case_rows, trail_event
from service.record.models import Case, CaseEvent
from service.record.notifications import notify, refusal_message, status_change_message
from service.record.privacy import redact_assumed, redact_findings
from service.record.recording import record_decision
from service.record.trail import request_digest
from service.decide.names import Names
from service.decide.rulebook import RuleBook

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


def case_status(rulebook: RuleBook, events: list[dict]) -> dict:
    """The case's status and its two records, from the one state machine
    (rules/classification/case_states.yaml)."""
    machine = rulebook.context.classification.machine
    state = machine.run(events)
    return {"status": machine.status(state), "resignation": state.resignation, "withdrawal": state.withdrawal}


@dataclass(frozen=True)
class Review:
    """A case as of a date: its status, the step awaiting a decision, and the rules' findings."""
    status: dict
    pending: dict            # derived.case.pending.* without the prefix; {} when nothing waits
    outcome: Outcome

    @property
    def findings(self) -> list[dict]:
        return self.outcome.findings


def review_case(rulebook: RuleBook, case: Case, events: list[dict], as_of: dt.date) -> Review:
    """The one review of a case (the API, the case page and the SLA sweep): the rules run on the
    read-only action review_case, which separates nobody."""
    outcome = evaluate(rulebook, {"as_of": as_of, "employee": {"id": case.employee_id},
                                  "case": case_request(case, events), "action": {"type": "review_case"}})
    pending = {name.removeprefix(_PENDING): value for name, value in outcome.facts.values.items()
               if name.startswith(_PENDING)}
    if pending.get("step") in (None, "none"):
        pending = {}
    return Review(case_status(rulebook, events), pending, outcome)


_PENDING = "derived.case.pending."


def event_dict(event: CaseEvent) -> dict:
    actor = {"id": event.actor_id, "role": event.actor_role}
    if event.actor_department:
        actor["department"] = event.actor_department
    out = {"type": event.type, "at": _aware(event.at), "actor": actor}  # UTC, as every answer
    if event.received_at:
        out["received_at"] = _aware(event.received_at)
    if event.form:
        out["form"] = event.form
    if event.note:
        out["note"] = event.note
    return out


def accepted_events(session: Session, case_id: str) -> list[dict]:
    """The case's accepted events, as every decision about the case reads them: only once its rows
    agree with its trail entries (service.record.case_trail), else LedgerDisagreement."""
    return [event_dict(e) for e in case_rows(session, case_id) if e.accepted]


def case_request(case: Case, events: list[dict]) -> dict:
    return {"id": case.id, "kind": case.kind, "events": events}


def record_event(session: Session, case_id: str, body: dict,
                 declared: list[tuple[str, str]] | None = None) -> tuple[int, dict]:
    """Check and record one event inside the caller's transaction; returns (status, answer).
    `declared`: the complete-record declarations it is decided under (service/decide/records.py)."""
    case = _lock_or_create_case(session, case_id, body)
    # Checked against the trail before anything is read from them, the replayed answer included.
    rows = case_rows(session, case_id)
    if "employee" in body and case.employee_id != body["employee"]["id"]:
        raise CaseConflict(f"case {case_id} is about employee {case.employee_id}, not {body['employee']['id']}")
    if "case" in body and body["case"]["kind"] != case.kind:
        raise CaseConflict(f"case {case_id} is a {case.kind} case, not {body['case']['kind']}")

    # Keyed: the request holds health facts, and a plain hash of a few choices is guessed.
    digest = request_digest(current_app.config["TRAIL_DIGEST_KEY"].encode(), body)
    replay = next((r for r in rows if r.client_key == body["client_key"]), None)
    if replay is not None:
        if replay.body_digest is not None and replay.body_digest != digest:  # None: recorded before 0008
            raise ClientKeyReused(
                f"client_key {body['client_key']} was sent with another request for case {case_id}: it "
                f"recorded event {replay.seq} ({replay.type}, decision {replay.decision_id}). Send a new "
                "client_key for a new event, or the same request to have its answer again.")
        return replay.response_status, replay.response

    event = body["event"]
    rulebook = current_app.extensions["rulebook"]
    before = [event_dict(r) for r in rows if r.accepted]
    as_of = body.get("as_of") or day_in_china(event["at"])
    employee, employee_from = body.get("employee"), None
    if employee is None:
        from service.record.rechecks import kept_for_event  # (imports this module)
        employee, employee_from = kept_for_event(session, case, rows, as_of)
    request = {"as_of": as_of, "employee": employee, "case": case_request(case, before),
               "action": {"type": rulebook.context.classification.machine.action_of(event["type"]),
                          "actor": event["actor"],
                          "effective_date": day_in_china(event["at"])}}
    filled, filled_in = with_declarations(rulebook, request, declared or [])
    outcome = evaluate(rulebook, filled, filled_in)
    accepted = outcome.verdict != "deny"
    now = utcnow()
    seq = (rows[-1].seq if rows else 0) + 1  # the trail's count, whatever cases.event_count says
    # The event as the rules read it goes into the trail, which proves case_events (case_trail).
    in_trail = trail_event({"type": event["type"], "at": _aware(event["at"]).isoformat(),
                            **({"received_at": _aware(event["received_at"]).isoformat()}
                               if event.get("received_at") else {}),
                            "form": event.get("form"), "client_key": body["client_key"]},
                           note=event.get("note"), department=event["actor"].get("department"), seq=seq)
    # Decided on kept facts: the trail names the decision that gave them.
    entry = record_decision(session, rulebook=rulebook, outcome=outcome, request=request, received_at=now,
                            kind="case_event" if accepted else "event_refused", event=event,
                            body_extra={"event": in_trail, **({"employee_from": employee_from["decision_id"]}
                                                              if employee_from else {})})
    case.event_count = seq
    row = CaseEvent(case_id=case_id, seq=seq, client_key=body["client_key"], accepted=accepted,
                    type=event["type"], at=event["at"], received_at=event.get("received_at"),
                    actor_id=event["actor"]["id"],
                    actor_role=event["actor"]["role"], actor_department=event["actor"].get("department"),
                    form=event.get("form"), note=event.get("note"), recorded_at=now,
                    decision_id=entry.entry_id, response_status=0, response={}, body_digest=digest)
    after = before + [event_dict(row)] if accepted else before
    status_before, status_after = case_status(rulebook, before), case_status(rulebook, after)
    # What is stored (and replayed for a repeated key) keeps health facts by name only.
    findings = redact_findings(outcome.findings, rulebook.vocabulary.sensitive,
                               keep=current_app.config["TRAIL_FACT_VALUES"])
    # Present only under a declaration, redacted as the stored (and replayed) answer keeps facts.
    assumed = {} if outcome.assumed is None else {"assumed": redact_assumed(
        outcome.assumed, rulebook.vocabulary, keep=current_app.config["TRAIL_FACT_VALUES"])}
    # Present only when the event left the employee record out: whose facts were used, from when.
    assumed.update({"employee_from": employee_from} if employee_from else {})
    receipt = entry.receipt(current_app.extensions["trail_key"])
    if accepted:
        code = 201
        answer = {"event": event_out(row), "decision_id": entry.entry_id, "verdict": outcome.verdict,
                  "findings": findings, "case": status_after, **assumed, "receipt": receipt}
        if status_after["status"] != status_before["status"]:
            _notify_status_change(session, rulebook.names, case, row, status_before, status_after, now)
    else:
        code = 409
        answer = {"code": 409, "status": "Conflict",
                  "message": "The event was refused: the rules deny it. The refusal is recorded.",
                  "event": event_out(row), "decision_id": entry.entry_id, "verdict": outcome.verdict,
                  "findings": findings, "case": status_before, **assumed, "receipt": receipt}
        _notify_refusal(session, rulebook.names, case, row, outcome, now)
    row.response_status, row.response = code, _jsonable(answer)
    session.add(row)
    from service.record.rechecks import remember_employee  # (imports this module)
    remember_employee(session, case_id, None if employee_from else filled["employee"], now, events=after,
                      decision_id=entry.entry_id)
    session.flush()
    return code, row.response


def _lock_or_create_case(session: Session, case_id: str, body: dict) -> Case:
    case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
    if case is not None:
        return case
    if "case" not in body:
        raise CaseConflict(f"case {case_id} does not exist yet: its first event must carry case.kind")
    try:
        with session.begin_nested():
            session.add(Case(id=case_id, kind=body["case"]["kind"], employee_id=body["employee"]["id"],
                             hr_owner_id=body["case"].get("hr_owner_id"),
                             manager_id=body["case"].get("manager_id"), created_at=utcnow(), event_count=0))
    except IntegrityError:
        pass  # another writer created it first; take its lock below
    return session.scalar(select(Case).where(Case.id == case_id).with_for_update())


def _notify_status_change(session, names: Names, case: Case, row: CaseEvent, before: dict, after: dict, now) -> None:
    payload = {"case_id": case.id, "employee_id": case.employee_id, "event": row.type,
               "by": {"id": row.actor_id, "role": row.actor_role},
               "from_status": before["status"], "to_status": after["status"],
               "message": status_change_message(names, case.id, before["status"], after["status"])}
    notify(session, kind="status_changed", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
           payload=payload, dedupe_key=f"status:{case.id}:{row.seq}", case_id=case.id,
           employee_id=case.employee_id)


def _notify_refusal(session, names: Names, case: Case, row: CaseEvent, outcome: Outcome, now) -> None:
    payload = {"case_id": case.id, "employee_id": case.employee_id, "event": row.type,
               "by": {"id": row.actor_id, "role": row.actor_role},
               "rule_ids": sorted({f["rule_id"] for f in outcome.findings if f["verdict"] == "deny"}),
               "message": refusal_message(names, case.id, row.type)}
    notify(session, kind="event_refused", now=now, recipient_role="hr", recipient_id=case.hr_owner_id,
           payload=payload, dedupe_key=f"refused:{case.id}:{row.seq}", case_id=case.id,
           employee_id=case.employee_id)


def event_out(row: CaseEvent) -> dict:
    """An event as the API shows it (JSON-ready: it is also stored as the replayed answer)."""
    return _jsonable({"seq": row.seq, "accepted": row.accepted, **event_dict(row),
                      "recorded_at": _aware(row.recorded_at), "decision_id": row.decision_id,
                      "client_key": row.client_key})


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def _aware(value: dt.datetime) -> dt.datetime:
    """In UTC: an answer gives every date-time in UTC, whether it was just received (+08:00
    perhaps) or read back from the database."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)

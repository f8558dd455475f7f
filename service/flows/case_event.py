"""A case event: check it with the rules (the event is the proposed action), record it or its
refusal, and answer (201, or 409 with the findings). The same client_key sent again with the same
request gets the same answer again, rendered from the trail (service.flows.case_replay), and
records nothing.

Like a check (service/flows/check.py): the request, the rule book and a date go to decide/; the
decision, the event and its notifications go to record/, in one transaction opened here.
"""
from __future__ import annotations

import base64

from flask import Flask

from service.clock import day_in_china, utcnow
from service.decide.case_review import case_request, case_status
from service.decide.evaluation import evaluate, with_declarations
from service.flows.case_replay import replayed
from service.flows.check import declared_areas
from service.flows.packs_live import rulebook_for
from service.record import rechecks
from service.record.case_trail import case_rows, trail_event
from service.record.db import tenant_info
from service.record.ledger import (CaseConflict, ClientKeyReused, aware, event_answer, event_dict, event_row,
                                   lock_or_create_case, notify_refusal, notify_status_change)
from service.record.privacy import redact_assumed, redact_findings
from service.record.recording import Keeping, record_decision
from service.record.trail import request_digest


def record_event(app: Flask, case_id: str, body: dict, client_id: str | None = None,
                 key_areas=(), *, tenant: str) -> tuple[int, dict]:
    """Check and record one event of the tenant's case in one transaction; returns (status,
    answer). It is decided under its complete-record declarations (its `complete_record`, then
    `key_areas`, its API key's: an unknown area is refused, CheckRefused); `client_id`: the API
    client that sent it."""
    rulebook = rulebook_for(app, tenant)
    declared = declared_areas(rulebook, body.pop("complete_record", None), key_areas)
    with app.extensions["db_sessions"](info=tenant_info(tenant)) as session, session.begin():
        return _record_event(app, session, rulebook, case_id, body, declared, client_id, tenant)


def _record_event(app: Flask, session, rulebook, case_id: str, body: dict, declared, client_id,
                  tenant: str) -> tuple[int, dict]:
    now = utcnow()
    case = lock_or_create_case(session, case_id, body, now, tenant_id=tenant)
    # Checked against the trail before anything is read from them, the replayed answer included.
    rows = case_rows(session, case_id, tenant_id=tenant)
    if "employee" in body and case.employee_id != body["employee"]["id"]:
        raise CaseConflict(f"case {case_id} is about employee {case.employee_id}, not {body['employee']['id']}")
    if "case" in body and body["case"]["kind"] != case.kind:
        raise CaseConflict(f"case {case_id} is a {case.kind} case, not {body['case']['kind']}")

    # Keyed: the request holds health facts, and a plain hash of a few choices is guessed.
    digest = request_digest(app.config["TRAIL_DIGEST_KEY"].encode(), body)
    replay = next((r for r in rows if r.client_key == body["client_key"]), None)
    if replay is not None:
        if replay.body_digest is not None and replay.body_digest != digest:  # None: recorded before 0008
            raise ClientKeyReused(
                f"client_key {body['client_key']} was sent with another request for case {case_id}: it "
                f"recorded event {replay.seq} ({replay.type}, decision {replay.decision_id}). Send a new "
                "client_key for a new event, or the same request to have its answer again.")
        return replayed(app, session, rows, replay)

    event = body["event"]
    before = [event_dict(r) for r in rows if r.accepted]
    as_of = body.get("as_of") or day_in_china(event["at"])
    employee, employee_from = body.get("employee"), None
    if employee is None:
        employee, employee_from = rechecks.kept_for_event(session, case, rows, as_of, rulebook=rulebook,
                                                          keys=app.extensions["recheck_keys"])
    request = {"as_of": as_of, "employee": employee, "case": case_request(case, before),
               "action": {"type": rulebook.context.classification.machine.action_of(event["type"]),
                          "actor": event["actor"],
                          "effective_date": day_in_china(event["at"])}}
    filled, filled_in = with_declarations(rulebook, request, declared or [])
    outcome = evaluate(rulebook, filled, filled_in)
    accepted = outcome.verdict != "deny"
    seq = (rows[-1].seq if rows else 0) + 1  # the trail's count, whatever cases.event_count says
    # The event as the rules read it goes into the trail, which proves case_events (case_trail).
    in_trail = trail_event({"type": event["type"], "at": aware(event["at"]).isoformat(),
                            **({"received_at": aware(event["received_at"]).isoformat()}
                               if event.get("received_at") else {}),
                            "form": event.get("form"), "client_key": body["client_key"]},
                           note=event.get("note"), department=event["actor"].get("department"), seq=seq,
                           digest_key=app.config["TRAIL_DIGEST_KEY"].encode())
    # Decided on kept facts: the trail names the decision that gave them.
    keeping = Keeping(app.config["TRAIL_FACT_VALUES"], app.config["TRAIL_DIGEST_KEY"].encode(), client_id, tenant)
    entry = record_decision(session, rulebook=rulebook, outcome=outcome, request=request, received_at=now,
                            keeping=keeping, key=app.extensions["trail_key"], kind="case_event" if accepted else "event_refused", event=event,
                            body_extra={"event": in_trail, **({"employee_from": employee_from["decision_id"]}
                                                              if employee_from else {})})
    case.event_count = seq
    row = event_row(case, seq, body, accepted, now, entry.entry_id, digest)
    after = before + [event_dict(row)] if accepted else before
    status_before, status_after = case_status(rulebook, before), case_status(rulebook, after)
    keep = keeping.keep
    # What is stored (and replayed for a repeated key) keeps health facts by name only.
    findings = redact_findings(outcome.findings, rulebook.vocabulary.sensitive, keep=keep)
    # Present only under a declaration, redacted as the stored (and replayed) answer keeps facts.
    assumed = {} if outcome.assumed is None else {"assumed": redact_assumed(outcome.assumed, rulebook.vocabulary,
                                                                            keep=keep)}
    # Present only when the event left the employee record out: whose facts were used, from when.
    assumed.update({"employee_from": employee_from} if employee_from else {})
    receipt = entry.receipt(app.extensions["trail_key"])
    if accepted:
        code, status = 201, status_after
        if status_after["status"] != status_before["status"]:
            notify_status_change(session, rulebook.names, case, row, status_before, status_after, now)
    else:
        code, status = 409, status_before
        notify_refusal(session, rulebook.names, case, row, outcome, now)
    answer = event_answer(row, outcome.verdict, findings, status, assumed, receipt)
    # Kept: what the trail does not hold (service.flows.case_replay renders the rest again).
    row.response_status, row.receipt_signature = code, base64.b64decode(receipt["signature"])
    row.response = {"employee_from": answer["employee_from"]} if employee_from else None
    session.add(row)
    rechecks.remember_employee(session, case_id, None if employee_from else filled["employee"], now, events=after,
                               decision_id=entry.entry_id, tenant_id=tenant, rulebook=rulebook,
                               keys=app.extensions["recheck_keys"])
    session.flush()
    return code, answer

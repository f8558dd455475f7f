"""A repeated client key's answer, rendered again from the trail (issue 23, goal 5).

The first answer to a case event is not stored whole (it was 1.3 KB of a 2 KB event): it is made
again from what the ledger and the trail keep, by the functions that made it the first time.
- the event: its case_events row (event_out), checked against its trail entry by case_rows;
- verdict, findings and `assumed`: the trail entry, rendered by its rule-set version exactly as
  GET /v1/decisions/<id> renders it (recording.render_body, render_assumed: the facts redacted as
  the trail keeps them, which is how the first answer gave them);
- the case's status before and after: the case's accepted events before this one, run through
  the version's state machine (case_review.case_status);
- the receipt: its text from the entry (its id, its hash, its recorded_at) and the signature the
  row keeps (`receipt_signature`, 64 bytes): a receipt signed by a key since retired replays
  with that key's id, as it was given.
What the trail does not hold stays in the row: the status code, and `employee_from` (whose kept
facts the event was decided on, and when they were given) in `response`.

Rows recorded before migration 0016 keep their whole answer in `response` (no signature): it is
replayed as stored.
"""
from __future__ import annotations

import base64

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.decide.case_review import case_status
from service.flows.packs_live import serving_version
from service.record.case_trail import LedgerDisagreement
from service.record.ledger import event_answer, event_dict
from service.record.models import CaseEvent, TrailEntry
from service.record.recording import render_assumed, render_body
from service.record.rulesets import VERSIONS
from service.record.trail import hash_of, receipt_time


def replayed(app: Flask, session: Session, rows: list[CaseEvent], row: CaseEvent) -> tuple[int, dict]:
    """The answer `row`'s event was given, as (status, answer). `rows`: the case's rows, already
    compared with its trail (case_rows), `row` among them."""
    if row.receipt_signature is None:  # recorded before 0016: kept whole
        return row.response_status, row.response
    entry = session.scalar(select(TrailEntry).where(TrailEntry.tenant_id == row.tenant_id,
                                                    TrailEntry.case_id == row.case_id,
                                                    TrailEntry.entry_id == row.decision_id))
    if entry is None:  # case_rows found it a moment ago, in this transaction
        raise LedgerDisagreement(row.case_id, row.seq, "its trail entry is missing")
    rulebook = _rulebook(app, entry.ruleset_version)
    if rulebook is None:
        raise LedgerDisagreement(row.case_id, row.seq,
                                 f"rule-set version {entry.ruleset_version} of its decision is not in the trail")
    rendered = render_body(entry.body, entry.as_of, entry.action_type, rulebook)
    before = [event_dict(r) for r in rows if r.accepted and r.seq < row.seq]
    status_before = case_status(rulebook, before)
    status = case_status(rulebook, before + [event_dict(row)]) if row.accepted else status_before
    extra = {"assumed": render_assumed(entry.body, rulebook)} if "assumed" in entry.body else {}
    extra.update({"employee_from": row.response["employee_from"]}
                 if row.response and "employee_from" in row.response else {})
    return row.response_status, event_answer(row, rendered["verdict"], rendered["findings"], status, extra,
                                             _receipt(app, row, entry))


def _receipt(app: Flask, row: CaseEvent, entry: TrailEntry) -> dict:
    """The receipt as given: its text again, and the kept signature, which must verify over it
    (by the receipt key or a retired one): else the row was edited, and nothing is answered."""
    keyring = app.extensions["trail_key"]
    # case_rows held the entry to its leaf, or to the hash its writer queued and signed.
    text = keyring.receipt_text(decision_id=entry.entry_id, entry_hash=hash_of(entry),
                                recorded_at=receipt_time(entry.recorded_at))
    signer = next((k for k in keyring.receipt_keys() if k.verify(text, row.receipt_signature)), None)
    if signer is None:
        raise LedgerDisagreement(row.case_id, row.seq, "its kept receipt signature does not verify over its "
                                                       "trail entry: edited")
    return {"signed": text, "signature": base64.b64encode(row.receipt_signature).decode(), "key_id": signer.key_id}


def _rulebook(app: Flask, version: str):
    """The rule set of that version: a serving one, or a replaced one from the trail (read across
    logs: a version's entry holds rule files, never a company's records)."""
    serving = serving_version(app, version)
    if serving is not None:
        return serving
    with app.extensions["db_read_sessions"]() as versions:
        return VERSIONS.rulebook(versions, version)

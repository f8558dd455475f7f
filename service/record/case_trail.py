"""The case ledger as the trail proves it: case_events checked against the case's trail entries.

case_events is a convenience (the answer replayed for a client key, the case page's rows); the
trail is the record, sealed in the Merkle tree. Every accepted event is a `case_event` entry and
every refused one an `event_refused` entry of the case, carrying the event as the rules read it
(service.flows.case_event.record_event writes both in one transaction). Before anything is decided
from a case's events (an event, a check naming the case, a review, the SLA sweep, the re-check),
its rows are compared with its trail entries, and each of those entries with the hash its leaf
(or its signed place in the sealing queue) holds. A row deleted, edited or inserted behind the
service's back, or an entry edited with it, is a LedgerDisagreement naming the case and the event:
answered 503, never decided on. `trail verify` runs the same comparison over every case
(ledger_differences).

Entries written before the trail carried the case's seq, the actor's department and the note's
digest are compared on what they carry (their seq is their place among the case's entries).

A case's entries are those of its tenant's log. The trail's keyring (to verify a queued entry's
signature) and the digest key (a note's digest) come from the caller: as `proof`, or with the
session, which the sealing flow configures to carry them (session.info[TRAIL_PROOF]).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record.models import Case, CaseEvent, TrailEntry, TrailLeaf, TrailLegacyPending, TrailPending
from service.record.trail import hash_of, receipt_time, request_digest
from service.tenants import DEFAULT_TENANT

ACCEPTED, REFUSED = "case_event", "event_refused"
EVENT_KINDS = (ACCEPTED, REFUSED)
TRAIL_PROOF = "trail_proof"


@dataclass(frozen=True)
class TrailProof:
    """What comparing a case's rows with its trail needs: the trail's keyring (it verifies a
    queued entry's signature) and TRAIL_DIGEST_KEY's bytes (a note is kept as its digest)."""
    key: object
    digest_key: bytes


def proof_of(session: Session, proof: TrailProof | None = None) -> TrailProof:
    found = proof or session.info.get(TRAIL_PROOF)
    if found is None:
        raise RuntimeError("no trail keys given: pass proof=, or open the session from the app's sessionmakers")
    return found


class LedgerDisagreement(Exception):
    """case_events (or the case row) says other than the trail: nothing is decided on the case."""

    def __init__(self, case_id: str, seq: int | None, reason: str) -> None:
        self.case_id, self.seq, self.reason = case_id, seq, reason
        super().__init__(f"case {case_id}" + (f", event {seq}" if seq is not None else "") + f": {reason}")


def trail_event(row_values: dict, note: str | None, department: str | None, seq: int, *, digest_key: bytes) -> dict:
    """What a case event's trail entry carries of the event besides its columns (event_type,
    actor_id, actor_role): `row_values` is the body's event as written before (type, at,
    received_at, form, client_key). The note, free text, only as a keyed digest."""
    out = {**row_values, "seq": seq}
    if department:
        out["department"] = department
    if note:
        out["note_digest"] = note_digest(note, digest_key)
    return out


def note_digest(note: str, digest_key: bytes) -> str:
    return request_digest(digest_key, {"note": note})


def case_rows(session: Session, case_id: str, *, tenant_id: str, proof: TrailProof | None = None) -> list[CaseEvent]:
    """The tenant's case's rows (accepted and refused), once they agree with its tenant's trail;
    LedgerDisagreement if not."""
    proof = proof_of(session, proof)
    case = session.get(Case, (tenant_id, case_id))
    rows = list(session.scalars(select(CaseEvent).where(CaseEvent.tenant_id == tenant_id, CaseEvent.case_id == case_id)
                                .order_by(CaseEvent.seq)))
    placed = _placed_entries(session, case_id, tenant_id)
    entries = [p[0] for p in placed]
    # The entries first: rows compared with an altered entry would name the wrong thing.
    differences = (_altered_entries(case_id, placed, proof.key)
                   or compare(case_id, case, rows, entries, proof.digest_key, first_only=True))
    if differences:
        raise differences[0]
    return rows


def _entries(session: Session, case_id: str, tenant_id: str) -> list[TrailEntry]:
    return list(session.scalars(select(TrailEntry).where(TrailEntry.tenant_id == tenant_id,
                                                         TrailEntry.case_id == case_id,
                                                         TrailEntry.kind.in_(EVENT_KINDS))
                                .order_by(TrailEntry.seq)))


def _placed_entries(session: Session, case_id: str, tenant_id: str) -> list[tuple]:
    """The case's entries, each with its leaf hash, its queue row (hash, signature) and its legacy
    queue row: one statement, so one snapshot (the sealer moves an entry from the queue to the
    leaves in one transaction: the entry is found in one or the other)."""
    return list(session.execute(
        select(TrailEntry, TrailLeaf.hash, TrailPending.hash, TrailPending.signature,
               TrailLegacyPending.seq, TrailLegacyPending.hash)
        .outerjoin(TrailLeaf, (TrailLeaf.tenant_id == tenant_id) & (TrailLeaf.seq == TrailEntry.seq))
        .outerjoin(TrailPending, (TrailPending.tenant_id == tenant_id) & (TrailPending.seq == TrailEntry.seq))
        .outerjoin(TrailLegacyPending, TrailLegacyPending.seq == TrailEntry.seq)
        .where(TrailEntry.tenant_id == tenant_id, TrailEntry.case_id == case_id, TrailEntry.kind.in_(EVENT_KINDS))
        .order_by(TrailEntry.seq)))


def compare(case_id: str, case: Case | None, rows: list[CaseEvent], entries: list[TrailEntry],
            digest_key: bytes, first_only: bool = False, key=None) -> list[LedgerDisagreement]:
    """Every difference between a case's rows and its trail entries, in event order. With `key`
    (the trail's keyring), a row's kept receipt signature is verified too (the replay verifies
    it before it answers; `trail verify` passes the keyring)."""
    found: list[LedgerDisagreement] = []
    by_seq = {(_event(e).get("seq") or n): e for n, e in enumerate(entries, 1)}
    if case is None and entries:
        found.append(LedgerDisagreement(case_id, None, f"the trail has {len(entries)} event(s) of the case "
                                                       "but the case row is missing: deleted"))
    if case is not None:
        for n, entry in sorted(by_seq.items()):
            if entry.employee_id != case.employee_id or entry.process_type != case.kind:
                found.append(LedgerDisagreement(case_id, n, (
                    f"the case row says a {case.kind} case about employee {case.employee_id}; the trail's "
                    f"event says a {entry.process_type} case about {entry.employee_id}: the case row was edited")))
                break
    rows_by_seq = {r.seq: r for r in rows}
    for seq in sorted(rows_by_seq.keys() | by_seq.keys()):
        if first_only and found:
            break
        row, entry = rows_by_seq.get(seq), by_seq.get(seq)
        if entry is None:
            found.append(LedgerDisagreement(case_id, seq, (
                f"case_events has event {seq} ({row.type}) but the trail has no such event of the case: "
                "inserted behind the service's back")))
        elif row is None:
            found.append(LedgerDisagreement(case_id, seq, (
                f"the trail has event {seq} ({entry.event_type}, {'accepted' if entry.kind == ACCEPTED else 'refused'}"
                f", decision {entry.entry_id}, trail entry {entry.seq}) but case_events does not: deleted")))
        else:
            fields = _differing(row, entry, digest_key, key)
            if fields:
                found.append(LedgerDisagreement(case_id, seq, (
                    f"case_events differs from the trail (entry {entry.seq}) in {', '.join(fields)}: edited")))
    return found


def _differing(row: CaseEvent, entry: TrailEntry, digest_key: bytes, key=None) -> list[str]:
    event = _event(entry)
    pairs = {
        "accepted": (row.accepted, entry.kind == ACCEPTED),
        "decision_id": (row.decision_id, entry.entry_id),
        "type": (row.type, entry.event_type),
        "at": (_utc(row.at), _moment(event.get("at"))),
        "received_at": (_utc(row.received_at), _moment(event.get("received_at"))),
        "actor.id": (row.actor_id, entry.actor_id),
        "actor.role": (row.actor_role, entry.actor_role),
        "form": (row.form, event.get("form")),
        "client_key": (row.client_key, event.get("client_key")),
        "recorded_at": (_utc(row.recorded_at), _utc(entry.recorded_at)),
    }
    if row.receipt_signature is None:
        # Recorded before migration 0016: the whole answer, replayed as kept. Its verdict is the trail's.
        pairs["response"] = ((row.response_status, (row.response or {}).get("verdict"),
                              (row.response or {}).get("decision_id")),
                             (201 if entry.kind == ACCEPTED else 409, entry.verdict, entry.entry_id))
    else:
        # Since 0016 the answer is rendered again from the entry (service.flows.case_replay): only its
        # status code is kept, and the receipt's signature, which must verify over the entry.
        pairs["response"] = (row.response_status, 201 if entry.kind == ACCEPTED else 409)
        if key is not None:
            pairs["receipt"] = (_signed(key, entry, bytes.fromhex(hash_of(entry)), row.receipt_signature), True)
    if "seq" in event:  # written since the trail carries these
        pairs["actor.department"] = (row.actor_department, event.get("department"))
        pairs["note"] = (row.note and note_digest(row.note, digest_key), event.get("note_digest"))
    return [name for name, (stored, proven) in pairs.items() if stored != proven]


def _altered_entries(case_id: str, placed: list[tuple], key) -> list[LedgerDisagreement]:
    """A case's entries that no longer hash to their leaf, or to the hash their writer queued and
    signed: edited together with the rows (the sealer would refuse them, verify names them)."""
    for n, (entry, leaf, queued, signature, legacy_seq, legacy) in enumerate(placed, 1):
        if entry.hash_scheme != 3:
            continue  # written before the tree: verify checks its chain
        actual = bytes.fromhex(hash_of(entry))
        if leaf is not None:
            holds = leaf == actual
        elif queued is not None:
            holds = queued == actual and signature is not None and _signed(key, entry, queued, signature)
        elif legacy_seq is not None:  # queued before writers signed: its hash, if migration 0008 kept one
            holds = legacy in (None, actual)
        else:
            holds = False
        if not holds:
            return [LedgerDisagreement(case_id, _event(entry).get("seq") or n, (
                f"its trail entry {entry.seq} no longer hashes to its leaf or to the hash its writer signed: "
                "the trail was altered"))]
    return []


_VERIFIED: "OrderedDict[tuple, bool]" = OrderedDict()
_VERIFIED_LOCK = threading.Lock()  # a gthread worker decides from several threads


def _signed(key, entry: TrailEntry, queued: bytes, signature: bytes) -> bool:
    """The queue row's signature verifies over the entry's receipt. Remembered per (key, entry,
    hash, signature): an Ed25519 check costs as much as the rest of the comparison, and a case's
    queued entries are read again by every decision until the sealer takes them."""
    found = (key.key_id, entry.entry_id, receipt_time(entry.recorded_at), queued, signature)
    with _VERIFIED_LOCK:
        if found in _VERIFIED:
            _VERIFIED.move_to_end(found)
            return True
    ok = key.verify(key.receipt_text(decision_id=entry.entry_id, entry_hash=queued.hex(),
                                     recorded_at=receipt_time(entry.recorded_at)), signature)
    if ok:
        with _VERIFIED_LOCK:
            _VERIFIED[found] = True
            if len(_VERIFIED) > 4096:
                _VERIFIED.popitem(last=False)
    return ok


@dataclass(frozen=True)
class LedgerCheck:
    cases: int
    differences: list[LedgerDisagreement]

    @property
    def ok(self) -> bool:
        return not self.differences


def ledger_differences(session: Session, digest_key: bytes, tenant_id: str = DEFAULT_TENANT,
                       limit: int = 50, key=None) -> LedgerCheck:
    """Compare every case of `tenant_id` with its trail entries in the tenant's log (case_events
    rows and the case rows); up to `limit` differences, in case order. `trail verify` calls this
    beside the tree's verification (which proves the entries themselves)."""
    case_ids = sorted(set(session.scalars(select(Case.id).where(Case.tenant_id == tenant_id)))
                      | set(session.scalars(select(TrailEntry.case_id).distinct()
                                            .where(TrailEntry.tenant_id == tenant_id,
                                                   TrailEntry.case_id.is_not(None),
                                                   TrailEntry.kind.in_(EVENT_KINDS)))))
    found: list[LedgerDisagreement] = []
    for case_id in case_ids:
        rows = list(session.scalars(select(CaseEvent).where(CaseEvent.tenant_id == tenant_id,
                                                            CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))
        found.extend(compare(case_id, session.get(Case, (tenant_id, case_id)), rows,
                             _entries(session, case_id, tenant_id), digest_key, key=key))
        if len(found) >= limit:
            break
        session.expunge_all()  # bounded memory over many cases
    return LedgerCheck(len(case_ids), found[:limit])


def _event(entry: TrailEntry) -> dict:
    return (entry.body or {}).get("event") or {}


def _moment(text: str | None) -> dt.datetime | None:
    return None if text is None else _utc(dt.datetime.fromisoformat(text))


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)

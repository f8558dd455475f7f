"""The one append-only, hash-chained trail of decisions, case events and rule-set changes.

Appends are serialized in the database: each append locks the single trail_head row
(SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions begin IMMEDIATE, one writer at a
time), so several gunicorn workers always extend one unbroken chain. Everything but the chain
position is prepared before the lock, and the append itself is plain Core statements: the lock
is held for one hash and one write, plus the caller's commit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from sqlalchemy import String, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from service.models import TrailEntry, TrailHead, TrailRuleHit

_ENTRIES, _HEAD, _RULE_HITS = TrailEntry.__table__, TrailHead.__table__, TrailRuleHit.__table__
GENESIS = "0" * 64
# Every column the hash covers, in order. `hash` itself is the only one left out.
HASHED = ("seq", "entry_id", "kind", "recorded_at", "as_of", "employee_id", "case_id", "process_type",
          "action_type", "event_type", "actor_id", "actor_role", "client_id", "verdict", "rule_ids",
          "ruleset_version", "body", "request_digest", "prev_hash")


def request_digest(key: bytes, request: dict) -> str:
    """A keyed digest of the request: proves what was asked without keeping health facts."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def entry_hash(values: dict) -> str:
    canonical = json.dumps([_canonical(values.get(name)) for name in HASHED],
                           ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value):
    if isinstance(value, dt.datetime):
        # SQLite hands back naive UTC, PostgreSQL aware: hash the same text for both.
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def ensure_head(session: Session) -> None:
    if session.get(TrailHead, 1) is None:
        session.add(TrailHead(id=1, seq=0, hash=GENESIS))
        session.flush()


# Built once: constructing them per append cost more than running them.
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES).values({c.name: bindparam(c.name, type_=c.type) for c in _ENTRIES.columns})
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash"))
_INSERT_HIT = insert(_RULE_HITS)


def _append_postgres():
    """The entry, its rule hits and the head move in one statement: one round trip under the lock."""
    entry = _INSERT_ENTRY.returning(_ENTRIES.c.seq).cte("entry")
    hits = insert(_RULE_HITS).from_select(
        ["seq", "rule_id"],
        select(entry.c.seq, func.unnest(bindparam("rule_ids_array", type_=ARRAY(String)))))
    return _MOVE_HEAD.add_cte(entry).add_cte(hits.cte("rule_hits"))


_APPEND_POSTGRES = _append_postgres()


@dataclass(frozen=True)
class Appended:
    seq: int
    entry_id: str
    hash: str


def append(session: Session, *, kind: str, recorded_at: dt.datetime, ruleset_version: str,
           body: dict, rule_ids: list[str] | None = None, entry_id: str | None = None,
           **columns) -> Appended:
    """Append one entry inside the caller's transaction (the caller commits)."""
    values = {name: None for name in HASHED}
    values.update(columns)
    values.update(entry_id=entry_id or str(uuid.uuid4()), kind=kind,
                  recorded_at=recorded_at.astimezone(dt.timezone.utc), rule_ids=sorted(set(rule_ids or [])),
                  ruleset_version=ruleset_version, body=body)
    connection = session.connection()  # Core, not the unit of work: nothing here needs identity
    head = connection.execute(_LOCK_HEAD).one()
    values.update(seq=head.seq + 1, prev_hash=head.hash)
    values["hash"] = entry_hash(values)
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND_POSTGRES, {**values, "rule_ids_array": values["rule_ids"]})
    else:
        connection.execute(_INSERT_ENTRY, values)
        connection.execute(_MOVE_HEAD, values)
        if values["rule_ids"]:
            connection.execute(_INSERT_HIT, [{"seq": values["seq"], "rule_id": r} for r in values["rule_ids"]])
    return Appended(values["seq"], values["entry_id"], values["hash"])


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason}


def verify_chain(session: Session) -> Verification:
    """Walk the chain from the start; name the first entry that does not hold."""
    entries = session.scalars(select(TrailEntry).order_by(TrailEntry.seq).execution_options(yield_per=1000))
    try:
        return _walk(session, entries)
    finally:
        entries.close()  # a server-side cursor on PostgreSQL: close it even when we stop early


def _walk(session: Session, entries) -> Verification:
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return Verification(False, count, expected_seq,
                                f"entry {expected_seq} is missing (the next stored entry is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return Verification(False, count, entry.seq,
                                f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                                "(reordered, or an earlier entry was replaced)")
        if entry_hash({name: getattr(entry, name) for name in HASHED}) != entry.hash:
            return Verification(False, count, entry.seq, f"entry {entry.seq} was altered after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = session.get(TrailHead, 1)
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, prev_hash):
        return Verification(False, count, expected_seq if head.seq >= expected_seq else head.seq,
                            f"the chain ends at entry {expected_seq - 1} but its head says {head.seq}: "
                            "entries were removed from the end")
    return Verification(True, count)


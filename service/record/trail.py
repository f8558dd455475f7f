"""The one append-only, hash-chained trail of decisions, case events and rule-set changes.

Appends are serialized in the database on the single trail_head row, so several gunicorn
workers always extend one unbroken chain.

Hash scheme 2 (every entry written now): hash = sha256("<prev_hash>|<seq>|<content digest>"),
where the content digest is the sha256 of the canonical JSON of every other hashed column
(CONTENT). The digest is computed before the head is touched; on PostgreSQL one statement then
moves the head, links the entry (sha256 in SQL) and inserts it with its rule hits, so the head's
row lock is held for that statement and the commit only. Elsewhere (SQLite, whose transactions
begin IMMEDIATE, and batches) the head is read FOR UPDATE and the links computed here.
Scheme 1 (entries written before migration 0003): hash = sha256 of the canonical JSON of HASHED.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from sqlalchemy import SmallInteger, String, Text, bindparam, cast, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from service.record.models import TrailEntry, TrailHead, TrailRuleHit

_ENTRIES, _HEAD, _RULE_HITS = TrailEntry.__table__, TrailHead.__table__, TrailRuleHit.__table__
GENESIS = "0" * 64
# Every column the hash covers, in order. `hash` itself is the only one left out.
HASHED = ("seq", "entry_id", "kind", "recorded_at", "as_of", "employee_id", "case_id", "process_type",
          "action_type", "event_type", "actor_id", "actor_role", "client_id", "verdict", "rule_ids",
          "ruleset_version", "body", "request_digest", "prev_hash")
# Scheme 2: what the content digest covers (the chain position is linked on top of it).
CONTENT = HASHED[1:-1]
SCHEME = 2


def request_digest(key: bytes, request: dict) -> str:
    """A keyed digest of the request: proves what was asked without keeping health facts."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def entry_hash(values: dict) -> str:
    """The hash an entry must carry, by its hash_scheme (scheme 1 when absent: written before 0003)."""
    if values.get("hash_scheme", 1) == 1:
        return _sha256(_canonical_json([_canonical(values.get(name)) for name in HASHED]))
    return link_hash(values["prev_hash"], values["seq"], content_digest(values))


def content_digest(values: dict) -> str:
    return _sha256(_canonical_json([_canonical(values.get(name)) for name in CONTENT]))


def link_hash(prev_hash: str, seq: int, digest: str) -> str:
    """Scheme 2's link; _link_in_sql below is the same formula, run by PostgreSQL."""
    return _sha256(f"{prev_hash}|{seq}|{digest}")


def _canonical_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value):
    if isinstance(value, dt.datetime):
        # SQLite hands back naive UTC, PostgreSQL aware: hash the same text for both.
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# Built once: constructing them per append cost more than running them.
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("seq"), hash=bindparam("hash"), prev_hash=bindparam("prev_hash"))
_INSERT_HIT = insert(_RULE_HITS)


def _link_in_sql():
    """PostgreSQL: move the head, link and insert the entry and its rule hits, in one statement.
    SET reads the head row as it was (the latest committed version, once the row lock is ours)."""
    next_seq = _HEAD.c.seq + 1
    link = func.encode(func.sha256(func.convert_to(
        _HEAD.c.hash + "|" + cast(next_seq, Text) + "|" + bindparam("content_digest", type_=String), "UTF8")), "hex")
    head = (update(_HEAD).where(_HEAD.c.id == 1).values(prev_hash=_HEAD.c.hash, seq=next_seq, hash=link)
            .returning(_HEAD.c.seq, _HEAD.c.prev_hash, _HEAD.c.hash).cte("head"))
    content = [bindparam(name, type_=_ENTRIES.c[name].type) for name in CONTENT]
    entry = (insert(_ENTRIES)
             .from_select(["seq", "prev_hash", "hash", "hash_scheme", *CONTENT],
                          select(head.c.seq, head.c.prev_hash, head.c.hash, literal(SCHEME, SmallInteger), *content))
             .returning(_ENTRIES.c.seq).cte("entry"))
    hits = (insert(_RULE_HITS)
            .from_select(["seq", "rule_id"],
                         select(entry.c.seq, func.unnest(bindparam("rule_ids_array", type_=ARRAY(String)))))
            .cte("rule_hits"))
    return select(head.c.seq, head.c.hash).add_cte(entry).add_cte(hits)


_APPEND_POSTGRES = _link_in_sql()


@dataclass(frozen=True)
class Appended:
    seq: int
    entry_id: str
    hash: str


def append(session: Session, *, kind: str, recorded_at: dt.datetime, ruleset_version: str,
           body: dict, rule_ids: list[str] | None = None, entry_id: str | None = None,
           **columns) -> Appended:
    """Append one entry inside the caller's transaction (the caller commits)."""
    return append_all(session, [entry_values(kind=kind, recorded_at=recorded_at, ruleset_version=ruleset_version,
                                             body=body, rule_ids=rule_ids, entry_id=entry_id, **columns)])[0]


def entry_values(*, kind: str, recorded_at: dt.datetime, ruleset_version: str, body: dict,
                 rule_ids: list[str] | None = None, entry_id: str | None = None, **columns) -> dict:
    """An entry's content, ready for append_all."""
    values = {name: None for name in CONTENT}
    values.update(columns)
    values.update(entry_id=entry_id or str(uuid.uuid4()), kind=kind,
                  recorded_at=recorded_at.astimezone(dt.timezone.utc), rule_ids=sorted(set(rule_ids or [])),
                  ruleset_version=ruleset_version, body=body)
    return values


def append_and_commit(engine: Engine, entries: list[dict]) -> list[Appended]:
    """Append entries that go with no other write (checks) and commit them: all or none."""
    if _one_statement(engine.dialect.name, entries):
        # The statement is its own transaction: the server commits as it ends, so the head's row
        # lock is not held while the answer travels back to us and a COMMIT comes the other way.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return _append(connection, entries)
    with engine.begin() as connection:
        return _append(connection, entries)


def append_all(session: Session, entries: list[dict]) -> list[Appended]:
    """Append entries (entry_values) in order, inside the caller's transaction (the caller commits)."""
    return _append(session.connection(), entries)  # Core, not the unit of work: nothing needs identity


def _one_statement(dialect_name: str, entries: list[dict]) -> bool:
    return dialect_name == "postgresql" and len(entries) == 1


def _append(connection: Connection, entries: list[dict]) -> list[Appended]:
    digests = [content_digest(values) for values in entries]  # before the head is touched
    if _one_statement(connection.dialect.name, entries):
        values = entries[0]
        row = connection.execute(_APPEND_POSTGRES, {**values, "content_digest": digests[0],
                                                    "rule_ids_array": values["rule_ids"]}).one()
        return [Appended(row.seq, values["entry_id"], row.hash)]
    head = connection.execute(_LOCK_HEAD).one()
    seq, prev_hash, rows, hits = head.seq, head.hash, [], []
    for values, digest in zip(entries, digests):
        seq += 1
        row = {**values, "seq": seq, "prev_hash": prev_hash, "hash": link_hash(prev_hash, seq, digest),
               "hash_scheme": SCHEME}
        rows.append(row)
        hits += [{"seq": seq, "rule_id": rule_id} for rule_id in values["rule_ids"]]
        prev_hash = row["hash"]
    connection.execute(_INSERT_ENTRY, rows)
    connection.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash, "prev_hash": rows[-1]["prev_hash"]})
    if hits:
        connection.execute(_INSERT_HIT, hits)
    return [Appended(r["seq"], r["entry_id"], r["hash"]) for r in rows]


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
        if entry.hash_scheme not in (1, SCHEME):
            return Verification(False, count, entry.seq, f"entry {entry.seq} names an unknown hash scheme")
        if entry_hash({name: getattr(entry, name) for name in (*HASHED, "hash_scheme")}) != entry.hash:
            return Verification(False, count, entry.seq, f"entry {entry.seq} was altered after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = session.get(TrailHead, 1)
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, prev_hash):
        return Verification(False, count, expected_seq if head.seq >= expected_seq else head.seq,
                            f"the chain ends at entry {expected_seq - 1} but its head says {head.seq}: "
                            "entries were removed from the end")
    return Verification(True, count)


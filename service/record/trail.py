"""The append-only trail of decisions, case events and rule-set versions: one Merkle tree per
tenant (docs/tenant-logs.md). An entry's `tenant_id` names its log; the tree tables are keyed by it.

Writing (the hot path): an entry's hash is computed here, from its content alone, and signed as
its receipt; the entry goes in with a row in the sealing queue that carries the hash and that
signature: one statement on PostgreSQL, committed before the answer. No row is shared between
writers, so nothing serializes them. The sealer seals the queued hash only if the signature
verifies: whoever writes the database without the key cannot have anything sealed.

Hash scheme 3 (every entry written now): hash = hex SHA-256(0x00 || canonical JSON of CONTENT),
which is the entry's RFC 6962 leaf hash. The sealer (service.record.sealer) gives queued entries their
place in the tree and publishes signed checkpoints. Schemes 1 and 2 (entries written before
migration 0005) are hash-chained as before; they are also leaves of the tree (the ones still queued
when migration 0008 ran are sealed by `trail seal --legacy-unsigned`: service.record.legacy).
  scheme 1: hash = sha256 of the canonical JSON of HASHED
  scheme 2: hash = sha256("<prev_hash>|<seq>|<sha256 of the canonical JSON of CONTENT>")
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from sqlalchemy import LargeBinary, bindparam, func, insert, select, text, tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from service.record import merkle
from service.record.ids import new_id
from service.tenants import DEFAULT_TENANT
from service.record.models import (TrailCheckpoint, TrailEntry, TrailLeaf, TrailNode,
                                   TrailPending)

_ENTRIES, _PENDING = TrailEntry.__table__, TrailPending.__table__
# The sealer's own entries: an entry it refused to seal, and the one-time sealing of the queue
# written before writers signed (service.record.sealer, service.record.legacy).
SEAL_REFUSED, LEGACY_SEALED = "seal_refused", "legacy_sealed"
GENESIS = "0" * 64
# Every column scheme 1 hashes, in order. `hash` itself is the only one left out.
HASHED = ("seq", "entry_id", "kind", "recorded_at", "as_of", "employee_id", "case_id", "process_type",
          "action_type", "event_type", "actor_id", "actor_role", "client_id", "verdict", "rule_ids",
          "ruleset_version", "body", "request_digest", "prev_hash")
# What schemes 2 and 3 hash: an entry's content, without its place (which the tree gives it).
CONTENT = HASHED[1:-1]
SCHEME = 3


def log_origin(origin: str, tenant_id: str) -> str:
    """A log's origin line (c2sp.org/tlog-checkpoint): the deployment's origin for the default
    tenant (the log that existed before tenants, whose published checkpoints and witness know it),
    `<origin>/<tenant>` for every other one. One checkpoint key signs every log."""
    return origin if tenant_id == DEFAULT_TENANT else f"{origin}/{tenant_id}"


EVERY_TENANT = "*"


def scope(connection: Connection, tenant_id: str) -> None:
    """Row-level security (PostgreSQL): the rest of this transaction sees `tenant_id`'s rows only,
    or every tenant's with EVERY_TENANT (the sealer, the worker, the CLI): the GUC contract of
    service.tenants. On SQLite there is no second wall: the queries name their tenant."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config('sg.tenant', :t, true)"), {"t": tenant_id})


def tenant_walk(table):
    """The tenants with rows in a trail table whose key leads with tenant_id, as a recursive CTE
    (its `tenant_id`, with one NULL row at the end): one index probe per tenant (a loose index
    scan), not a pass over the table's rows."""
    column = table.c.tenant_id
    first = select(func.min(column).label("tenant_id")).cte("tenants", recursive=True)
    following = select(select(func.min(column)).where(column > first.c.tenant_id).scalar_subquery()) \
        .where(first.c.tenant_id.is_not(None))
    return first.union_all(following)


def tenants_in(connection: Connection, table) -> list[str]:
    """The tenants with rows in a trail table (tenant_walk)."""
    walk = tenant_walk(table)
    return list(connection.execute(select(walk.c.tenant_id).where(walk.c.tenant_id.is_not(None))).scalars())


def request_digest(key: bytes, request: dict) -> str:
    """A keyed digest of the request: proves what was asked without keeping health facts."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def leaf_data(values: dict) -> bytes:
    """The bytes a scheme-3 entry is in the tree: docs/trail.md, 'Verifying the trail yourself'.
    An entry of a tenant other than the default one ends with its tenant, so its hash (and the
    receipt signed over it) binds it to its company: moved to another tenant's log, it no longer
    hashes to its leaf (docs/tenant-logs.md). The default log's entries hash as they always did."""
    content = [_canonical(values.get(name)) for name in CONTENT]
    if values.get("tenant_id", DEFAULT_TENANT) != DEFAULT_TENANT:
        content.append(values["tenant_id"])
    return _canonical_json(content).encode()


def hash_of(entry) -> str:
    """A stored entry's hash: the chain hash it carries (schemes 1, 2), or its content's (scheme 3)."""
    if entry.hash_scheme == SCHEME:
        return entry_hash({name: getattr(entry, name) for name in (*CONTENT, "hash_scheme", "tenant_id")})
    return entry.hash


def entry_hash(values: dict) -> str:
    """The hash an entry must carry, by its hash_scheme (scheme 1 when absent: written before 0003)."""
    scheme = values.get("hash_scheme", 1)
    if scheme == 1:
        return _sha256(_canonical_json([_canonical(values.get(name)) for name in HASHED]))
    if scheme == 2:
        return _sha256(f"{values['prev_hash']}|{values['seq']}|{_sha256(leaf_data(values).decode())}")
    return merkle.leaf_hash(leaf_data(values)).hex()


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


def receipt_time(recorded_at: dt.datetime) -> str:
    """recorded_at as a receipt states it."""
    return _canonical(recorded_at) + "Z"


@dataclass(frozen=True)
class Appended:
    seq: int
    entry_id: str
    hash: str
    recorded_at: dt.datetime
    signature: bytes | None = None  # the receipt's, made as the entry was queued

    def receipt(self, key) -> dict:
        """The signed receipt of this entry (service.record.signing.TrailKey)."""
        return key.receipt(decision_id=self.entry_id, entry_hash=self.hash,
                           recorded_at=receipt_time(self.recorded_at), signature=self.signature)


def sign_entry(key, values: dict, entry_hash_hex: str) -> bytes:
    """The receipt's signature over an entry's hash: it travels in the queue to the sealer."""
    return key.sign(key.receipt_text(decision_id=values["entry_id"], entry_hash=entry_hash_hex,
                                     recorded_at=receipt_time(values["recorded_at"])))


def entry_values(*, kind: str, recorded_at: dt.datetime, ruleset_version: str, body: dict,
                 rule_ids: list[str] | None = None, entry_id: str | None = None,
                 tenant_id: str = DEFAULT_TENANT, **columns) -> dict:
    """An entry's content and hash, ready for append_all. `tenant_id`: the log it goes into
    (entries of no company, such as a rule set's version, are the default log's)."""
    values = {name: None for name in CONTENT}
    values.update(columns)
    values["tenant_id"] = tenant_id
    # Microseconds are what both databases keep: hash what will be read back.
    values.update(entry_id=entry_id or new_id(), kind=kind,
                  recorded_at=recorded_at.astimezone(dt.timezone.utc), rule_ids=sorted(set(rule_ids or [])),
                  ruleset_version=ruleset_version, body=body, hash_scheme=SCHEME)
    return values


def append(session: Session, *, kind: str, recorded_at: dt.datetime, ruleset_version: str,
           body: dict, key, rule_ids: list[str] | None = None, entry_id: str | None = None,
           **columns) -> Appended:
    """Append one entry inside the caller's transaction (the caller commits). `key`: the trail's
    signing key (service.record.signing.TrailKey)."""
    return append_all(session, [entry_values(kind=kind, recorded_at=recorded_at, ruleset_version=ruleset_version,
                                             body=body, rule_ids=rule_ids, entry_id=entry_id, **columns)], key=key)[0]


_SESSION_TENANT = "sg_session_tenant"


def append_and_commit(engine: Engine, entries: list[dict], key) -> list[Appended]:
    """Append entries that go with no other write (checks) and commit them: all or none."""
    signed = _signed(entries, key)  # before the transaction: SQLite's holds the write lock
    tenants = {v["tenant_id"] for v in entries}
    tenant = tenants.pop() if len(tenants) == 1 else EVERY_TENANT
    if engine.dialect.name == "postgresql" and len(entries) == 1:
        # One statement is its own transaction: the server commits as it ends. Row-level
        # security reads the tenant for the connection (not the transaction, which is the
        # statement); any later transaction on it sets its own (service.record.db).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # Set once per pooled connection and tenant, not per check (a round trip each): the
            # DBAPI connection's info outlives checkouts, and only this code sets it for the session.
            held = connection.connection.info
            if held.get(_SESSION_TENANT) != tenant:
                connection.execute(text("SELECT set_config('sg.tenant', :t, false)"), {"t": tenant})
                held[_SESSION_TENANT] = tenant
            return _insert(connection, entries, *signed)
    with engine.begin() as connection:
        scope(connection, tenant)
        return _insert(connection, entries, *signed)


def append_all(session: Session, entries: list[dict], key) -> list[Appended]:
    """Append entries (entry_values) in order, inside the caller's transaction (the caller commits)."""
    return append_on(session.connection(), entries, key)  # Core: nothing needs identity


_COLUMNS = [*CONTENT, "hash_scheme", "tenant_id"]  # not the hash: it is kept once, in the entry's leaf


def _queue_one():
    """PostgreSQL: insert one entry and queue it for the sealer, in one statement (its own
    transaction: the server commits as it ends)."""
    entry = (insert(_ENTRIES).values({name: bindparam(name, type_=_ENTRIES.c[name].type) for name in _COLUMNS})
             .returning(_ENTRIES.c.seq, _ENTRIES.c.tenant_id).cte("entry"))
    queued = insert(_PENDING).from_select(["tenant_id", "seq", "hash", "signature"], select(
        entry.c.tenant_id, entry.c.seq, bindparam("leaf", type_=LargeBinary),
        bindparam("signature", type_=LargeBinary))).cte("queued")
    return select(entry.c.seq).add_cte(queued)


# Built once: constructing (and compiling) statements per append cost more than running them.
_QUEUE_ONE = _queue_one()
_INSERT_ENTRIES = insert(_ENTRIES).returning(_ENTRIES.c.seq, sort_by_parameter_order=True)
_INSERT_PENDING = insert(_PENDING)


def append_on(connection: Connection, entries: list[dict], key) -> list[Appended]:
    """Append entries on a connection, in its transaction (the sealer's own entries go this way)."""
    return _insert(connection, entries, *_signed(entries, key))


def _signed(entries: list[dict], key) -> tuple[list[str], list[bytes]]:
    hashes = [entry_hash(v) for v in entries]
    return hashes, [sign_entry(key, v, h) for v, h in zip(entries, hashes)]


def _insert(connection: Connection, entries: list[dict], hashes: list[str], signatures: list[bytes]) -> list[Appended]:
    def queue(seqs):
        return [{"tenant_id": v["tenant_id"], "seq": s, "hash": bytes.fromhex(h), "signature": g}
                for v, s, h, g in zip(entries, seqs, hashes, signatures)]

    if connection.dialect.name == "postgresql" and len(entries) == 1:
        seqs = [connection.execute(_QUEUE_ONE, {**{n: entries[0][n] for n in _COLUMNS},
                                                "leaf": bytes.fromhex(hashes[0]),
                                                "signature": signatures[0]}).scalar_one()]
    elif connection.dialect.name == "postgresql":
        # A batch: the entries' INSERT once per entry (sort_by_parameter_order makes SQLAlchemy's
        # insertmanyvalues go a row at a time: `seq` is no SERIAL it can sort by), then one multi-row
        # INSERT for the queue. One multi-row INSERT for the entries, matched to them by entry_id,
        # took PostgreSQL 0.03 ms less a check but the web process 0.05 ms more to render
        # (benchmarks/RESULTS.md, goal 4).
        seqs = list(connection.execute(_INSERT_ENTRIES, [{n: v[n] for n in _COLUMNS} for v in entries]).scalars())
        connection.execute(_INSERT_PENDING, queue(seqs))
    else:
        # SQLite has one writer at a time (the transaction began IMMEDIATE): max + 1 is ours.
        first = connection.execute(select(func.coalesce(func.max(_ENTRIES.c.seq), 0))).scalar() + 1
        seqs = list(range(first, first + len(entries)))
        connection.execute(insert(_ENTRIES), [{**{n: v[n] for n in _COLUMNS}, "seq": s}
                                              for v, s in zip(entries, seqs)])
        connection.execute(_INSERT_PENDING, queue(seqs))
    return [Appended(seq, v["entry_id"], h, v["recorded_at"], g)
            for seq, v, h, g in zip(seqs, entries, hashes, signatures)]


# --- reading the tree ------------------------------------------------------------------------

def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def latest_checkpoint(session: Session, tenant_id: str) -> TrailCheckpoint | None:
    return session.scalar(select(TrailCheckpoint).where(TrailCheckpoint.tenant_id == tenant_id)
                          .order_by(TrailCheckpoint.tree_size.desc()).limit(1))


def stored_nodes(session: Session, wanted: set[tuple[int, int]], tenant_id: str) -> dict[tuple[int, int], bytes]:
    """The nodes named of one tenant's tree, in two queries (leaves, interior nodes)."""
    low = [(level, index) for level, index in wanted if level < merkle.STORED_FROM]
    leaves = sorted({i for level, index in low for i in merkle.leaves_under(level, index)})
    inner = [(level, index) for level, index in wanted if level >= merkle.STORED_FROM]
    found: dict[tuple[int, int], bytes] = {}
    if leaves:
        found.update(((0, i), h) for i, h in session.execute(
            select(TrailLeaf.leaf_index, TrailLeaf.hash).where(TrailLeaf.tenant_id == tenant_id,
                                                               TrailLeaf.leaf_index.in_(leaves))))
        if len(found) == len(leaves):
            found.update(((lv, i), merkle.from_leaves(lv, i, lambda _, j: found[(0, j)])) for lv, i in low if lv)
    if inner:
        found.update(((lv, i), h) for lv, i, h in session.execute(
            select(TrailNode.level, TrailNode.index, TrailNode.hash)
            .where(TrailNode.tenant_id == tenant_id, tuple_(TrailNode.level, TrailNode.index).in_(inner))))
    missing = set(wanted) - found.keys()
    if missing:
        raise LookupError(f"tree nodes missing from the database: {sorted(missing)[:5]}")
    return found


def prove(session: Session, build, tenant_id: str) -> list[bytes] | bytes:
    """Run a merkle proof or root builder on one tenant's stored nodes, fetched in one go."""
    nodes = stored_nodes(session, merkle.needed(build), tenant_id)
    return build(lambda level, index: nodes[(level, index)])

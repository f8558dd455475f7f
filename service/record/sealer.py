"""The sealer: puts committed trail entries into their tenant's Merkle tree and signs checkpoints.

One sealer is active per database at a time. On PostgreSQL each round takes a transaction-level
advisory lock (pg_try_advisory_xact_lock), so any number of workers on any number of hosts may
run the loop: one seals, the others find the lock taken and wait for the next round, and if the
sealing worker dies its lock goes with its transaction. On SQLite the database has one writer
anyway; a process-wide lock keeps this process's threads from trying twice.

Each tenant has its own log (docs/tenant-logs.md). A round takes up to BATCH queued entries,
shared between the logs with entries waiting, the longest-waiting log first: each gets an equal
share, and what a log leaves of its share goes to those that filled theirs, so one tenant's
backlog never delays another's entries by more than a round, and a lone backlog still drains
BATCH a round. For each log the round appends the hashes the writers queued as leaves (each only
if the writer's signature over it verifies: see _seal_log), stores every interior node that
became complete, and publishes a checkpoint (c2sp.org/tlog-checkpoint) of its new size and
root, signed as a C2SP note with the log's origin (trail.log_origin): all in one transaction,
so a checkpoint never names a leaf that is not stored.

This module takes the engine and the trail's key from its caller; the loop, the in-process
thread and the witness submission are the sealing flow's (service/flows/sealing.py).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.engine import Connection, Engine

from service.record import merkle
from service.clock import utcnow
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf, TrailNode, TrailPending
from service.record.trail import (EVERY_TENANT, SEAL_REFUSED, append_on, b64, entry_values, log_origin,
                                  receipt_time, scope, tenant_walk)
from service.tenants import DEFAULT_TENANT

log = logging.getLogger(__name__)
BATCH = 1000
SEALER_LOCK = 72_616_002  # any constant: the advisory lock the sealers contend for
_LOCAL = threading.Lock()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


@dataclass
class Round:
    """What one round did: entries taken off the queue (sealed or refused), per log, and the
    checkpoints it published ({tenant: note})."""
    taken: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.taken.values())


def seal_round(engine: Engine, key, batch: int = BATCH) -> Round:
    """One round: seal up to `batch` queued entries, shared fairly between the logs (empty: nothing
    queued, or another sealer holds the lock). `key`: the trail's keyring (signing.TrailKey)."""
    if engine.dialect.name != "postgresql":
        if not _LOCAL.acquire(blocking=False):
            return Round()
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql" and not connection.execute(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEALER_LOCK}).scalar():
                return Round()
            scope(connection, EVERY_TENANT)
            return _seal(connection, key, batch)
    finally:
        if engine.dialect.name != "postgresql":
            _LOCAL.release()


def _seal(connection: Connection, key, batch: int) -> Round:
    # The logs with entries queued, the longest-waiting first: an index probe per log (a backlog
    # of a million queued entries is never read to find them).
    walk = tenant_walk(TrailPending.__table__)
    oldest = select(func.min(TrailPending.seq)).where(TrailPending.tenant_id == walk.c.tenant_id).scalar_subquery()
    waiting = list(connection.execute(select(walk.c.tenant_id).where(walk.c.tenant_id.is_not(None))
                                      .order_by(oldest).limit(batch)).scalars())
    done = Round()
    if not waiting:
        return done
    share, budget, full = max(1, batch // len(waiting)), batch, []
    for tenant in waiting:
        if budget <= 0:
            break
        wanted = min(share, budget)
        taken = _seal_log(connection, key, tenant, wanted, done)
        budget -= taken
        if taken == wanted:
            full.append(tenant)
    for tenant in full:  # what the others left of their shares
        if budget <= 0:
            break
        budget -= _seal_log(connection, key, tenant, budget, done)
    return done


def _seal_log(connection: Connection, key, tenant: str, limit: int, done: Round) -> int:
    """Seal what the writers queued in one tenant's log, as they queued it: the hash, if the
    receipt's signature over it verifies. The entry's content is never hashed here: a row
    re-queued, or edited in the queue, by whoever writes the database is refused, and the refusal
    is itself an entry of that log."""
    queued = connection.execute(
        select(TrailPending.seq, TrailPending.hash, TrailPending.signature, TrailEntry.entry_id,
               TrailEntry.recorded_at, TrailEntry.ruleset_version, TrailEntry.tenant_id)
        .outerjoin(TrailEntry, TrailEntry.seq == TrailPending.seq)
        .where(TrailPending.tenant_id == tenant)
        .order_by(TrailPending.seq).limit(limit)).all()
    if not queued:
        return 0
    leaves, refusals = [], []
    for row in queued:
        reason = _refusal(key, row, tenant)
        if reason is None:
            leaves.append((row.seq, row.hash))
        else:
            log.warning("refused to seal trail entry %s in the log of %s: %s", row.seq, tenant, reason)
            refusals.append(entry_values(kind=SEAL_REFUSED, recorded_at=utcnow(), tenant_id=tenant,
                                         ruleset_version=row.ruleset_version or "",
                                         body={"refused_seq": row.seq, "entry_id": row.entry_id, "reason": reason}))
    connection.execute(delete(TrailPending).where(TrailPending.tenant_id == tenant,
                                                  TrailPending.seq.in_([row.seq for row in queued])))
    if refusals:  # queued, signed by us: the next round seals them
        append_on(connection, refusals, key)
    if leaves:
        done.notes[tenant] = append_leaves(connection, key, leaves, tenant)
    done.taken[tenant] = done.taken.get(tenant, 0) + len(queued)
    return len(queued)


def _refusal(key, row, tenant: str) -> str | None:
    """Why a queued row may not be sealed into `tenant`'s log, or None."""
    if row.entry_id is None:
        return "its entry is not in the trail"
    if row.tenant_id != tenant:
        return f"it was queued in the log of {tenant} but its entry is {row.tenant_id}'s"
    if row.hash is None or row.signature is None:
        return "it was queued without its writer's hash and signature"
    signed = key.receipt_text(decision_id=row.entry_id, entry_hash=row.hash.hex(),
                              recorded_at=receipt_time(row.recorded_at))
    if not key.verify(signed, row.signature):
        return "its signature does not verify: this is not the hash its writer signed for this entry"
    return None


def append_leaves(connection: Connection, key, leaves: list[tuple[int, bytes]],
                  tenant: str = DEFAULT_TENANT) -> str:
    """Append (seq, leaf hash) pairs to `tenant`'s tree, store its new nodes and publish the signed
    checkpoint of its new size, in the caller's transaction; returns the checkpoint's note."""
    size = connection.execute(select(TrailCheckpoint.tree_size).where(TrailCheckpoint.tenant_id == tenant)
                              .order_by(TrailCheckpoint.tree_size.desc()).limit(1)).scalar() or 0

    def stored_leaf(_level: int, index: int) -> bytes:
        return connection.execute(select(TrailLeaf.hash).where(TrailLeaf.tenant_id == tenant,
                                                               TrailLeaf.leaf_index == index)).scalar_one()

    def stored(level: int, index: int) -> bytes:  # the older nodes of the right edge
        if level < merkle.STORED_FROM:
            return merkle.from_leaves(level, index, stored_leaf)
        return connection.execute(select(TrailNode.hash).where(
            TrailNode.tenant_id == tenant, tuple_(TrailNode.level, TrailNode.index) == (level, index))).scalar_one()

    frontier = merkle.Frontier(size, stored)
    rows = []
    for n, (seq, leaf) in enumerate(leaves):
        rows.append({"tenant_id": tenant, "leaf_index": size + n, "seq": seq, "hash": leaf})
        frontier.append(leaf)
    root = frontier.root()
    connection.execute(insert(TrailLeaf), rows)
    nodes = [{"tenant_id": tenant, "level": lv, "index": i, "hash": h}
             for (lv, i), h in frontier.new.items() if lv >= merkle.STORED_FROM]
    if nodes:
        connection.execute(insert(TrailNode), nodes)
    note = key.sign_note(checkpoint_text(log_origin(key.name, tenant), frontier.size, root))
    connection.execute(insert(TrailCheckpoint), {"tenant_id": tenant, "tree_size": frontier.size, "root_hash": root,
                                                 "published_at": utcnow(), "note": note})
    return note



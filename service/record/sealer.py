"""The sealer: puts committed trail entries into the Merkle tree and signs checkpoints.

One sealer is active per database at a time. On PostgreSQL each round takes a transaction-level
advisory lock (pg_try_advisory_xact_lock), so any number of workers on any number of hosts may
run the loop: one seals, the others find the lock taken and wait for the next round, and if the
sealing worker dies its lock goes with its transaction. On SQLite the database has one writer
anyway; a process-wide lock keeps this process's threads from trying twice.

Each round takes up to BATCH queued entries in insertion order, appends the hashes their writers
queued as leaves (each only if the writer's signature over it verifies: see _seal), stores
every interior node that became complete, and publishes a checkpoint (c2sp.org/tlog-checkpoint)
of the new size and root, signed as a C2SP note: all in one transaction, so a
checkpoint never names a leaf that is not stored. With the loop's default 0.5 s between rounds an
entry is sealed within about a second, and a checkpoint covers at most BATCH new entries.

After each round that published a checkpoint, the sealer submits every checkpoint not yet
cosigned to the witness (service.record.witnessing); the worker's witness_submit task retries.

Entry points: seal_once(app) (for `separation-guard worker`'s task registry), run(app, stop)
(a loop), start_in_background(app) (the in-process thread of each service worker), and the
`trail seal` command.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask
from sqlalchemy import delete, insert, select, text, tuple_
from sqlalchemy.engine import Connection, Engine

from service.record import merkle
from service.clock import utcnow
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf, TrailNode, TrailPending
from service.record.trail import SEAL_REFUSED, append_on, b64, entry_values, receipt_time

log = logging.getLogger(__name__)
BATCH = 1000
SEALER_LOCK = 72_616_002  # any constant: the advisory lock the sealers contend for
_LOCAL = threading.Lock()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


def seal_once(target: Flask | Engine, batch: int = BATCH, key=None) -> int:
    """One round: seal up to `batch` queued entries; returns how many it took off the queue,
    sealed or refused (0: nothing queued, or another sealer holds the lock). `target` is the app,
    or an engine with the trail's `key` (service.record.signing.TrailKey) given."""
    app = target if isinstance(target, Flask) else None
    engine = app.extensions["db_engine"] if app else target
    key = key or app.extensions["trail_key"]
    if engine.dialect.name != "postgresql":
        if not _LOCAL.acquire(blocking=False):
            return 0
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql" and not connection.execute(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEALER_LOCK}).scalar():
                return 0
            sealed, note = _seal(connection, key, batch)
    finally:
        if engine.dialect.name != "postgresql":
            _LOCAL.release()
    if note is not None and app is not None:
        _witness(app)
    return sealed


def _seal(connection: Connection, key, batch: int) -> tuple[int, str | None]:
    """Seal what the writers queued, as they queued it: the hash, if the receipt's signature over
    it verifies. The entry's content is never hashed here: a row re-queued, or edited in the
    queue, by whoever writes the database is refused, and the refusal is itself an entry."""
    queued = connection.execute(
        select(TrailPending.seq, TrailPending.hash, TrailPending.signature, TrailEntry.entry_id,
               TrailEntry.recorded_at, TrailEntry.ruleset_version)
        .outerjoin(TrailEntry, TrailEntry.seq == TrailPending.seq)
        .order_by(TrailPending.seq).limit(batch)).all()
    if not queued:
        return 0, None
    leaves, refusals = [], []
    for row in queued:
        reason = _refusal(key, row)
        if reason is None:
            leaves.append((row.seq, row.hash))
        else:
            log.warning("refused to seal trail entry %s: %s", row.seq, reason)
            refusals.append(entry_values(kind=SEAL_REFUSED, recorded_at=utcnow(),
                                         ruleset_version=row.ruleset_version or "",
                                         body={"refused_seq": row.seq, "entry_id": row.entry_id, "reason": reason}))
    connection.execute(delete(TrailPending).where(TrailPending.seq.in_([row.seq for row in queued])))
    if refusals:  # queued, signed by us: the next round seals them
        append_on(connection, refusals, key)
    note = append_leaves(connection, key, leaves) if leaves else None
    return len(queued), note


def _refusal(key, row) -> str | None:
    """Why a queued row may not be sealed, or None."""
    if row.entry_id is None:
        return "its entry is not in the trail"
    if row.hash is None or row.signature is None:
        return "it was queued without its writer's hash and signature"
    signed = key.receipt_text(decision_id=row.entry_id, entry_hash=row.hash.hex(),
                              recorded_at=receipt_time(row.recorded_at))
    if not key.verify(signed, row.signature):
        return "its signature does not verify: this is not the hash its writer signed for this entry"
    return None


def append_leaves(connection: Connection, key, leaves: list[tuple[int, bytes]]) -> str:
    """Append (seq, leaf hash) pairs to the tree, store its new nodes and publish the signed
    checkpoint of its new size, in the caller's transaction; returns the checkpoint's note."""
    size = connection.execute(select(TrailCheckpoint.tree_size).order_by(TrailCheckpoint.tree_size.desc())
                              .limit(1)).scalar() or 0

    def stored_leaf(_level: int, index: int) -> bytes:
        return connection.execute(select(TrailLeaf.hash).where(TrailLeaf.leaf_index == index)).scalar_one()

    def stored(level: int, index: int) -> bytes:  # the older nodes of the right edge
        if level < merkle.STORED_FROM:
            return merkle.from_leaves(level, index, stored_leaf)
        return connection.execute(select(TrailNode.hash).where(
            tuple_(TrailNode.level, TrailNode.index) == (level, index))).scalar_one()

    frontier = merkle.Frontier(size, stored)
    rows = []
    for n, (seq, leaf) in enumerate(leaves):
        rows.append({"leaf_index": size + n, "seq": seq, "hash": leaf})
        frontier.append(leaf)
    root = frontier.root()
    connection.execute(insert(TrailLeaf), rows)
    nodes = [{"level": lv, "index": i, "hash": h} for (lv, i), h in frontier.new.items() if lv >= merkle.STORED_FROM]
    if nodes:
        connection.execute(insert(TrailNode), nodes)
    note = key.sign_note(checkpoint_text(key.name, frontier.size, root))
    connection.execute(insert(TrailCheckpoint), {"tree_size": frontier.size, "root_hash": root,
                                                 "published_at": utcnow(), "note": note})
    return note


def _witness(app: Flask) -> None:
    """Submit what the witness has not cosigned yet (service.record.witnessing): this checkpoint,
    and any earlier one a failure left behind. A failure never stops sealing: the worker's
    witness_submit task tries again."""
    if not app.config.get("TRAIL_WITNESS_URL"):
        return
    from service.record.witnessing import submit_pending
    try:
        submit_pending(app)
    except Exception:  # noqa: BLE001 (the checkpoint is stored: it waits for the next try)
        log.exception("submitting checkpoints to the witness failed; the worker retries")


def run(app: Flask, stop: threading.Event | None = None, interval: float | None = None) -> None:
    """Seal until `stop` is set: a full batch goes again at once, otherwise wait `interval`."""
    stop = stop or threading.Event()
    interval = float(app.config["TRAIL_SEAL_SECONDS"] if interval is None else interval)
    if interval <= 0:  # TRAIL_SEAL_SECONDS=0 means "no sealer thread", never "seal without pause"
        raise ValueError(f"a sealing loop needs a pause between rounds; {interval:g} seconds is none")
    while not stop.is_set():
        try:
            sealed = seal_once(app)
        except Exception:  # the database may be down: entries wait in the queue, nothing is lost
            log.exception("sealing failed; retrying")
            sealed = 0
        if sealed < BATCH:
            stop.wait(interval)


_STARTED: dict[int, threading.Thread] = {}


def start_in_background(app: Flask) -> None:
    """The sealing loop in a daemon thread of this process (once per process: gunicorn forks)."""
    pid = os.getpid()
    if pid in _STARTED or float(app.config["TRAIL_SEAL_SECONDS"]) <= 0:
        return
    thread = threading.Thread(target=run, args=(app,), name="trail-sealer", daemon=True)
    _STARTED[pid] = thread
    thread.start()


def wait_until_sealed(app: Flask, timeout: float = 10.0) -> None:
    """Seal everything queued now (tests, the CLI, benchmarks)."""
    deadline = time.monotonic() + timeout
    with app.extensions["db_read_sessions"]() as session:
        while session.scalar(select(TrailPending.seq).limit(1)) is not None:
            session.rollback()
            if seal_once(app) == 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("entries are still queued for sealing")
                time.sleep(0.05)

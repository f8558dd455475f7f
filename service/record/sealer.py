"""The sealer: puts committed trail entries into the Merkle tree and signs checkpoints.

One sealer is active per database at a time. On PostgreSQL each round takes a transaction-level
advisory lock (pg_try_advisory_xact_lock), so any number of workers on any number of hosts may
run the loop: one seals, the others find the lock taken and wait for the next round, and if the
sealing worker dies its lock goes with its transaction. On SQLite the database has one writer
anyway; a process-wide lock keeps this process's threads from trying twice.

Each round takes up to BATCH queued entries in insertion order, appends their hashes as leaves,
stores every interior node that became complete, and publishes a checkpoint (c2sp.org/
tlog-checkpoint) of the new size and root, signed as a C2SP note: all in one transaction, so a
checkpoint never names a leaf that is not stored. With the loop's default 0.5 s between rounds an
entry is sealed within about a second, and a checkpoint covers at most BATCH new entries.

Entry points: seal_once(app) (for `separation-guard worker`'s task registry), run(app, stop)
(a loop), start_in_background(app) (the in-process thread of each service worker), and the
`trail seal` command.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request

from flask import Flask
from sqlalchemy import delete, insert, select, text, tuple_
from sqlalchemy.engine import Connection, Engine

from service.record import merkle
from service.clock import utcnow
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf, TrailNode, TrailPending
from service.record.trail import CONTENT, b64, hash_of

log = logging.getLogger(__name__)
BATCH = 1000
SEALER_LOCK = 72_616_002  # any constant: the advisory lock the sealers contend for
_LOCAL = threading.Lock()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


def seal_once(target: Flask | Engine, batch: int = BATCH, key=None) -> int:
    """One round: seal up to `batch` queued entries; returns how many (0: nothing queued, or
    another sealer holds the lock). `target` is the app, or an engine with the trail's `key`
    (service.record.signing.TrailKey) given."""
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
        _witness(app, note)
    return sealed


def _seal(connection: Connection, key, batch: int) -> tuple[int, str | None]:
    queued = select(TrailPending.seq, TrailPending.hash).order_by(TrailPending.seq).limit(batch)
    hashes = dict(connection.execute(queued).all())
    if not hashes:
        return 0, None
    seqs = list(hashes)
    unhashed = [seq for seq, h in hashes.items() if h is None]
    if unhashed:  # queued by migration 0005: entries written before the tree
        hashes.update((e.seq, bytes.fromhex(hash_of(e))) for e in connection.execute(
            select(*[TrailEntry.__table__.c[n] for n in ("seq", "hash", *CONTENT, "hash_scheme")])
            .where(TrailEntry.seq.in_(unhashed))))
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
    leaves = []
    for n, seq in enumerate(s for s in seqs if hashes.get(s) is not None):  # None: the entry is gone
        leaf = hashes[seq]
        leaves.append({"leaf_index": size + n, "seq": seq, "hash": leaf})
        frontier.append(leaf)
    root = frontier.root()
    connection.execute(delete(TrailPending).where(TrailPending.seq.in_(seqs)))
    connection.execute(insert(TrailLeaf), leaves)
    nodes = [{"level": lv, "index": i, "hash": h} for (lv, i), h in frontier.new.items() if lv >= merkle.STORED_FROM]
    if nodes:
        connection.execute(insert(TrailNode), nodes)
    note = key.sign_note(checkpoint_text(key.name, frontier.size, root))
    connection.execute(insert(TrailCheckpoint), {"tree_size": frontier.size, "root_hash": root,
                                                 "published_at": utcnow(), "note": note})
    return len(leaves), note


def _witness(app: Flask, note: str) -> None:
    """POST the checkpoint to the witness, if one is configured; a failure never stops sealing."""
    url = app.config.get("TRAIL_WITNESS_URL")
    if not url:
        return
    request = urllib.request.Request(url, data=note.encode(), method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=float(app.config.get("TRAIL_WITNESS_TIMEOUT", 2.0))):
            pass
    except (urllib.error.URLError, OSError) as exc:  # HTTPError (4xx, 5xx) is a URLError
        log.warning("the witness did not take checkpoint %s: %s", note.split("\n")[1], exc)


def run(app: Flask, stop: threading.Event | None = None, interval: float | None = None) -> None:
    """Seal until `stop` is set: a full batch goes again at once, otherwise wait `interval`."""
    stop = stop or threading.Event()
    interval = float(app.config["TRAIL_SEAL_SECONDS"] if interval is None else interval)
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

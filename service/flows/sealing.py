"""Sealing the trail: committed entries into their tenant's Merkle tree, checkpoints signed (the
rounds themselves: service/record/sealer.py, which takes the engine and key from here). Each
service process seals in a thread of its own, and the worker seals what the web workers queued:
one at a time holds the lock.

Entry points: seal_once(app) (for `separation-guard worker`'s task registry), run(app, stop)
(a loop), start_in_background(app) (the in-process thread of each service worker),
wait_until_sealed(app) (tests, the CLI, benchmarks), and the `trail seal` command. After each
round that published a checkpoint, every checkpoint not yet cosigned is submitted to the
witness (service.record.witnessing); the worker's witness_submit task retries.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.record import sealer
from service.record.case_trail import TRAIL_PROOF, TrailProof
from service.record.models import TrailPending
from service.record.sealer import BATCH
from service.record.trail import EVERY_TENANT, scope

log = logging.getLogger("service.record.sealer")


def init_app(app: Flask) -> None:
    """Each service process runs a sealer thread (TRAIL_SEALER_THREAD, default on unless TESTING,
    and in production only where the checkpoint key is given: elsewhere the worker seals);
    started on its first request, after gunicorn has forked it. Every session the app opens
    carries the trail's keys (session.info), for record/ code that checks what it reads against
    the trail (service.record.case_trail) without reading the app."""
    proof = TrailProof(app.extensions["trail_key"], app.config["TRAIL_DIGEST_KEY"].encode())
    for name in ("db_sessions", "db_read_sessions"):
        app.extensions[name].configure(info={TRAIL_PROOF: proof})
    on = app.config["TRAIL_SEALER_THREAD"]
    if on is None:
        on = not app.testing and (app.config["ENV"] != "production" or bool(app.config["TRAIL_CHECKPOINT_KEY"]))
    if not on:
        return

    @app.before_request
    def _start_sealer():
        start_in_background(app)


def seal_once(target: Flask | Engine, batch: int = BATCH, key=None) -> int:
    """One round: seal up to `batch` queued entries over every tenant's log; returns how many it
    took off the queue, sealed or refused (0: nothing queued, or another sealer holds the lock).
    `target` is the app, or an engine with the trail's `key` (service.record.signing.TrailKey)."""
    app = target if isinstance(target, Flask) else None
    engine = app.extensions["db_engine"] if app else target
    done = sealer.seal_round(engine, key or app.extensions["trail_key"], batch)
    if done.notes and app is not None:
        _witness(app, list(done.notes))
    return done.total


def seal_pending(app: Flask) -> int:
    """Every entry queued now, a batch per round; how many were taken off the queue."""
    total = n = seal_once(app)
    while n == BATCH:
        total += (n := seal_once(app))
    return total


def _witness(app: Flask, tenants: list[str]) -> None:
    """Submit what the witness has not cosigned yet (service.record.witnessing), in every log. A
    failure never stops sealing: the worker's witness_submit task tries again."""
    if not app.config.get("TRAIL_WITNESS_URL"):
        return
    from service.record.witnessing import submit_pending
    try:
        submit_pending(app, tenants)
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
    """Seal everything queued now, in every log (tests, the CLI, benchmarks)."""
    deadline = time.monotonic() + timeout
    with app.extensions["db_read_sessions"]() as session:
        while True:
            scope(session.connection(), EVERY_TENANT)
            if session.scalar(select(TrailPending.seq).limit(1)) is None:
                break
            session.rollback()
            if seal_once(app) == 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("entries are still queued for sealing")
                time.sleep(0.05)

"""Sealing the trail: committed entries into their tenant's Merkle tree, checkpoints signed (the
rounds themselves: service/record/sealer.py, which takes the engine and key from here). The
worker seals what the web workers queued. A web process seals in a thread of its own only while no
worker seals (a worker whose sealing task beat within WORKER_SEALS_WITHIN): then `gunicorn` alone
still seals, and where the worker runs (`make run`, production) one process takes the queue in
batches. Issue 23: a sealer thread in each of four web workers cost the README's check 2 ms of its
p50 (5.2 -> 3.2 ms), competing with the requests of its own process for the interpreter lock.

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

from service.clock import utcnow
from service.record import sealer
from service.record.case_trail import TRAIL_PROOF, TrailProof
from service.record.models import TrailPending
from service.record.worker_state import sealing_worker
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


def verify_trail(app: Flask) -> dict:
    """The worker's verification task: an incremental verification asked for every
    TRAIL_VERIFY_SECONDS, and the oldest one asked for (POST /v1/trail/verify) run, checked against
    the witness's cosignatures (service/record/verification.py)."""
    from service.record.verification import work
    from service.record.witnessing import verify_with_witness

    return work(app.extensions["db_engine"], app.extensions["trail_key"], float(app.config["TRAIL_VERIFY_SECONDS"]),
                in_thread=not app.testing, sample=int(app.config["TRAIL_VERIFY_SAMPLE"]),
                witness=lambda connection, result, tenant: verify_with_witness(app, connection, result,
                                                                               tenant=tenant))


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


# How often a web process's sealer thread looks again whether the worker seals.
WORKER_LOOK_SECONDS = 5.0


def run(app: Flask, stop: threading.Event | None = None, interval: float | None = None,
        defer_to_worker: bool = False) -> None:
    """Seal until `stop` is set: a full batch goes again at once, otherwise wait `interval`.
    `defer_to_worker` (a web process's thread): no round while the worker seals."""
    stop = stop or threading.Event()
    interval = float(app.config["TRAIL_SEAL_SECONDS"] if interval is None else interval)
    if interval <= 0:  # TRAIL_SEAL_SECONDS=0 means "no sealer thread", never "seal without pause"
        raise ValueError(f"a sealing loop needs a pause between rounds; {interval:g} seconds is none")
    while not stop.is_set():
        try:
            if defer_to_worker and _worker_seals(app):
                stop.wait(WORKER_LOOK_SECONDS)
                continue
            sealed = seal_once(app)
        except Exception:  # the database may be down: entries wait in the queue, nothing is lost
            log.exception("sealing failed; retrying")
            sealed = 0
        if sealed < BATCH:
            stop.wait(interval)


def _worker_seals(app: Flask) -> bool:
    with app.extensions["db_read_sessions"]() as session:
        return sealing_worker(session, utcnow())


_STARTED: dict[int, threading.Thread] = {}


def start_in_background(app: Flask) -> None:
    """The sealing loop in a daemon thread of this process (once per process: gunicorn forks)."""
    pid = os.getpid()
    if pid in _STARTED or float(app.config["TRAIL_SEAL_SECONDS"]) <= 0:
        return
    thread = threading.Thread(target=run, args=(app,), kwargs={"defer_to_worker": True}, name="trail-sealer",
                              daemon=True)
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

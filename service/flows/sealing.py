"""Sealing the trail: committed entries into the Merkle tree, checkpoints signed (the rounds
themselves: service/record/sealer.py). Each service process seals in a thread of its own, and
the worker seals what the web workers queued: one at a time holds the lock."""
from __future__ import annotations

from flask import Flask

from service.record import sealer


def init_app(app: Flask) -> None:
    """Each service process runs a sealer thread (TRAIL_SEALER_THREAD, default on unless TESTING,
    and in production only where the checkpoint key is given: elsewhere the worker seals);
    started on its first request, after gunicorn has forked it."""
    on = app.config["TRAIL_SEALER_THREAD"]
    if on is None:
        on = not app.testing and (app.config["ENV"] != "production" or bool(app.config["TRAIL_CHECKPOINT_KEY"]))
    if not on:
        return

    @app.before_request
    def _start_sealer():
        sealer.start_in_background(app)


def seal_pending(app: Flask) -> int:
    """Every entry queued now, a batch per round; how many were taken off the queue."""
    total = n = sealer.seal_once(app)
    while n == sealer.BATCH:
        total += (n := sealer.seal_once(app))
    return total


def verify_trail(app: Flask) -> dict:
    """The worker's verification task: an incremental verification asked for every
    TRAIL_VERIFY_SECONDS, and the oldest one asked for (POST /v1/trail/verify) run, checked against
    the witness's cosignatures (service/record/verification.py)."""
    from service.record.verification import work
    from service.record.witnessing import verify_with_witness

    return work(app.extensions["db_engine"], app.extensions["trail_key"], float(app.config["TRAIL_VERIFY_SECONDS"]),
                in_thread=not app.testing, sample=int(app.config["TRAIL_VERIFY_SAMPLE"]),
                witness=lambda connection, result: verify_with_witness(app, connection, result))

"""The worker's row (worker_state): who holds the lease, its last heartbeat, each task's state.
The worker writes it (service/tools/worker.py); /readyz on any web worker or host reads it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service.record.models import WorkerState

WORKER_NAME = "worker"
# /readyz calls the worker stale when it has not beaten for this long.
STALE_AFTER = dt.timedelta(minutes=2)
# The worker seals twice a second and beats after every pass that ran a task: a sealing task that
# ran this recently, without an error, is a worker sealing (web processes then leave it to it).
WORKER_SEALS_WITHIN = dt.timedelta(seconds=15)
SEALING_TASK = "seal_trail"


def worker_status(session: Session, now: dt.datetime) -> dict:
    """For /readyz: the active worker's last heartbeat, as any process sees it in the database."""
    row = session.get(WorkerState, WORKER_NAME)
    if row is None or row.heartbeat_at is None:
        return {"status": "never seen", "heartbeat_at": None, "holder": None}
    age = now - row.heartbeat_at
    return {"status": "stale" if age > STALE_AFTER else "ok", "heartbeat_at": row.heartbeat_at.isoformat(),
            "seconds_since_heartbeat": round(age.total_seconds(), 1), "holder": row.holder,
            "tasks": {name: {k: v for k, v in state.items() if k in ("last_run_at", "last_day", "error")}
                      for name, state in (row.tasks or {}).items()}}


def sealing_worker(session: Session, now: dt.datetime) -> bool:
    """Whether a worker seals the trail now: it beat, and its sealing task ran without an error,
    within WORKER_SEALS_WITHIN (service/flows/sealing.py)."""
    row = session.get(WorkerState, WORKER_NAME)
    if row is None or row.heartbeat_at is None or now - row.heartbeat_at > WORKER_SEALS_WITHIN:
        return False
    task = (row.tasks or {}).get(SEALING_TASK) or {}
    if "error" in task or "last_run_at" not in task:
        return False
    return now - dt.datetime.fromisoformat(task["last_run_at"]) <= WORKER_SEALS_WITHIN

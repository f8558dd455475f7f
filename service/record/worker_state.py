"""The worker's row (worker_state): who holds the lease, its last heartbeat, each task's state.
The worker writes it (service/tools/worker.py); /readyz on any web worker or host reads it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service.record.models import WorkerState

WORKER_NAME = "worker"
# /readyz calls the worker stale when it has not beaten for this long.
STALE_AFTER = dt.timedelta(minutes=2)


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

"""The background worker: what the service does without anyone remembering to.

`separation-guard worker` runs its tasks continuously; `separation-guard worker --once
--as-of DATE` runs each of them once (for tests and cron). The tasks are a list (TASKS): each
has a name, how often it runs, and a function of the pass's context. To add one (the trail's
sealer, say) append a Task to TASKS.

One worker is active per database, however many are started (every host may start one, and
`make run` starts one beside gunicorn): on PostgreSQL the active worker holds a session-level
advisory lock on a connection of its own; on SQLite it holds a lease in the worker_state row,
renewed on every tick (SQLite serializes writers, so two processes never both take it). The
others wait and take over when the active worker stops or dies. The active worker writes its
heartbeat to worker_state, so /readyz on any web worker or host can report it.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from service.clock import day_in_china, utcnow
from service.record.models import WorkerState
from service.record.worker_state import SEALING_TASK, STALE_AFTER, WORKER_NAME  # noqa: F401 -- STALE_AFTER: /readyz's, read here by tests

log = logging.getLogger("separation_guard.worker")

# Advisory locks are per database, not per schema: the second half of the key is the schema's,
# so two deployments (or test runs) in schemas of one database each have their worker.
_ADVISORY_LOCK = 72_616_002
_LOCK_KEY = ":key, hashtext(current_schema())"
LEASE = dt.timedelta(seconds=30)
TICK_SECONDS = 0.5  # the sealing task's pace: an entry waits about this long for its leaf
# An idle pass writes its heartbeat this often (a pass that ran a task always does).
HEARTBEAT_EVERY = dt.timedelta(seconds=10)


@dataclass
class PassContext:
    app: Flask
    now: dt.datetime            # the wall clock at the start of the pass (UTC)
    as_of: dt.date              # today in China, or the --as-of of a one-off pass

    @property
    def sessions(self):
        return self.app.extensions["db_sessions"]


@dataclass(frozen=True)
class Task:
    name: str
    run: Callable[[PassContext], dict]
    every: dt.timedelta | None = None   # run at most this often
    daily: bool = False                 # run once per day in China
    enabled: Callable[[Flask], bool] = field(default=lambda app: True)

    def due(self, state: dict, ctx: PassContext) -> bool:
        if self.daily:
            return state.get("last_day") != ctx.as_of.isoformat()
        last = state.get("last_run_at")
        return last is None or ctx.now - dt.datetime.fromisoformat(last) >= self.every


# ---- the tasks ------------------------------------------------------------------------------

def _sla_sweep(ctx: PassContext) -> dict:
    from service.flows.sla_sweep import sweep_overdue
    counts = sweep_overdue(ctx.app, ctx.as_of)
    # dry_run only when it is one (a worker run --once as of a day to come)
    return {k: v for k, v in counts.items() if k not in ("as_of", "notifications") and (k != "dry_run" or v)}


def _deliver(ctx: PassContext) -> dict:
    from service.flows.notifications import deliver
    return deliver(ctx.app)


def _pack_webhooks(app: Flask) -> bool:
    from service.flows.notifications import pack_webhooks
    return bool(pack_webhooks(app))


def _recheck(ctx: PassContext) -> dict:
    from service.flows.recheck import recheck
    return recheck(ctx.app, ctx.as_of, ctx.now)


def _partitions(ctx: PassContext) -> dict:
    """The trail's monthly partitions, made months ahead so an insert never finds its month
    missing (PostgreSQL; service.record.partitions)."""
    from service.record.partitions import ensure_all_ahead, may_create
    with ctx.app.extensions["db_engine"].begin() as connection:
        if not may_create(connection):  # SQLite, or the service role: the owner runs `db partitions`
            return {"created": 0}
        return {"created": len(ensure_all_ahead(connection, ctx.as_of))}


def _watch_rules(ctx: PassContext) -> dict:
    """The worker decides with the rules the web workers serve: reload when the files change."""
    from service.flows.rules_live import changed_on_disk, reload_rules
    if not changed_on_disk(ctx.app):
        return {"reloaded": False}
    return {"reloaded": reload_rules(ctx.app, "rule files or fixtures changed on disk (worker)").ok}


def _seal_trail(ctx: PassContext) -> dict:
    """Seal what the web workers queued (while this runs they leave it to the worker:
    service/flows/sealing.py)."""
    from service.flows.sealing import seal_pending
    return {"sealed": seal_pending(ctx.app)}


def _verify_trail(ctx: PassContext) -> dict:
    """Verifications asked for (POST /v1/trail/verify) and the periodic incremental one."""
    from service.flows.sealing import verify_trail
    return verify_trail(ctx.app)


def _witness_submit(ctx: PassContext) -> dict:
    """Every checkpoint the witness has not cosigned, oldest first, whoever sealed it: a failed
    delivery is retried here until the witness answers (service.record.witnessing)."""
    from service.record.witnessing import submit_pending
    return submit_pending(ctx.app)


TASKS: list[Task] = [
    Task("rules_watch", _watch_rules, every=dt.timedelta(seconds=5),
         enabled=lambda app: float(app.config["RULES_WATCH_SECONDS"]) > 0),
    Task("sla_sweep", _sla_sweep, every=dt.timedelta(minutes=1)),
    # After the sweep: it does not tell again what the sweep has just notified.
    Task("recheck_open_cases", _recheck, daily=True),
    Task("partitions", _partitions, daily=True),
    Task(SEALING_TASK, _seal_trail, every=dt.timedelta(seconds=TICK_SECONDS)),
    Task("verify_trail", _verify_trail, every=dt.timedelta(seconds=2)),
    Task("witness_submit", _witness_submit, every=dt.timedelta(seconds=5),
         enabled=lambda app: bool(app.config.get("TRAIL_WITNESS_URL"))),
    # Last, so whatever this pass queued leaves in this pass (with --once too).
    Task("deliver_notifications", _deliver, every=dt.timedelta(seconds=5),
         enabled=lambda app: bool(app.config.get("WEBHOOK_URL")) or _pack_webhooks(app)),
]


# ---- one active worker per database -----------------------------------------------------------

class WorkerLock:
    """Held by the active worker only. `hold()` takes or keeps it; False means another has it."""

    def __init__(self, app: Flask, holder: str):
        self.app, self.holder = app, holder
        self.engine = app.extensions["db_engine"]
        self._connection = None  # PostgreSQL: the connection whose session holds the advisory lock

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def hold(self) -> bool:
        return self._hold_advisory() if self.postgres else self._hold_lease()

    def release(self) -> None:
        if self.postgres:
            if self._connection is not None:
                try:
                    # Unlocked explicitly: closing only returns the connection to the pool.
                    self._connection.execute(text(f"SELECT pg_advisory_unlock({_LOCK_KEY})"), {"key": _ADVISORY_LOCK})
                    self._connection.commit()
                    self._connection.close()
                except SQLAlchemyError:
                    self._connection.invalidate()  # a broken session holds nothing
                finally:
                    self._connection = None
            return
        with self.app.extensions["db_sessions"]() as session, session.begin():
            session.execute(update(WorkerState).where(WorkerState.name == WORKER_NAME,
                                                      WorkerState.holder == self.holder)
                            .values(lease_until=None))

    def _hold_advisory(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()  # never idle in a transaction
                return True
            except SQLAlchemyError:  # the connection (and so the lock) is gone: try afresh
                self._connection.invalidate()
                self._connection = None
        connection = self.engine.connect()
        got = connection.execute(text(f"SELECT pg_try_advisory_lock({_LOCK_KEY})"), {"key": _ADVISORY_LOCK}).scalar()
        connection.commit()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def _hold_lease(self) -> bool:
        now = utcnow()
        _ensure_state_row(self.app)
        with self.app.extensions["db_sessions"]() as session:
            row = session.get(WorkerState, WORKER_NAME)
            if row.holder == self.holder and row.lease_until is not None and row.lease_until - now > LEASE / 2:
                return True  # ours for a while yet: no write every tick
        with self.app.extensions["db_sessions"]() as session, session.begin():
            taken = session.execute(
                update(WorkerState)
                .where(WorkerState.name == WORKER_NAME,
                       (WorkerState.holder == self.holder) | WorkerState.lease_until.is_(None)
                       | (WorkerState.lease_until < now))
                .values(holder=self.holder, lease_until=now + LEASE)).rowcount
        return taken == 1


def _ensure_state_row(app: Flask) -> None:
    sessions = app.extensions["db_sessions"]
    with sessions() as session:
        if session.get(WorkerState, WORKER_NAME) is not None:
            return
    try:
        with sessions() as session, session.begin():
            session.add(WorkerState(name=WORKER_NAME, holder=None, lease_until=None, heartbeat_at=None, tasks={}))
    except IntegrityError:
        pass  # another worker made it first


def _beat(app: Flask, holder: str, tasks: dict | None = None) -> None:
    _ensure_state_row(app)
    with app.extensions["db_sessions"]() as session, session.begin():
        row = session.get(WorkerState, WORKER_NAME)
        row.holder, row.heartbeat_at = holder, utcnow()
        if tasks is not None:
            row.tasks = tasks


# ---- running ---------------------------------------------------------------------------------

def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_pass(app: Flask, holder: str, as_of: dt.date | None = None, force: bool = False,
             tasks: list[Task] | None = None) -> dict:
    """One pass of every due task (every task with force=True). Returns each task's result.
    A failing task is logged and recorded; the others still run."""
    with app.app_context():
        return _run_pass(app, holder, as_of, force, tasks)


def _run_pass(app: Flask, holder: str, as_of: dt.date | None, force: bool, tasks: list[Task] | None) -> dict:
    now = utcnow()
    ctx = PassContext(app=app, now=now, as_of=as_of or day_in_china(now))
    with app.extensions["db_sessions"]() as session:
        row = session.get(WorkerState, WORKER_NAME)
        states = dict(row.tasks or {}) if row is not None else {}
        last_beat = row.heartbeat_at if row is not None else None
    results = {}
    for task in tasks if tasks is not None else TASKS:
        state = dict(states.get(task.name, {}))
        if not task.enabled(app) or not (force or task.due(state, ctx)):
            continue
        try:
            results[task.name] = task.run(ctx)
            state.pop("error", None)
        except Exception as exc:  # noqa: BLE001 (one task's failure must not stop the others)
            log.exception("worker task %s failed", task.name)
            results[task.name] = {"error": type(exc).__name__}
            state["error"] = f"{type(exc).__name__} at {now.isoformat()}"
        state["last_run_at"] = now.isoformat()
        if task.daily:
            state["last_day"] = ctx.as_of.isoformat()
        states[task.name] = state
    if results or last_beat is None or now - last_beat >= HEARTBEAT_EVERY:
        _beat(app, holder, states)
    return results


def run_once(app: Flask, as_of: dt.date | None = None, holder: str | None = None) -> dict | None:
    """Every task once (None when another worker is active: it does the work)."""
    holder = holder or default_holder()
    lock = WorkerLock(app, holder)
    if not lock.hold():
        return None
    try:
        return run_pass(app, holder, as_of=as_of, force=True)
    finally:
        lock.release()


def run_forever(app: Flask, stop: threading.Event | None = None, holder: str | None = None,
                tick: float = TICK_SECONDS) -> None:
    """Until SIGTERM/SIGINT (or `stop`): standby until the lock is ours, then a pass per tick."""
    holder = holder or default_holder()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    lock = WorkerLock(app, holder)
    active = None  # unknown until the first try: then "active" or "on standby" is logged
    log.info("worker %s started", holder)
    try:
        while not stop.is_set():
            try:
                holding = lock.hold()
                if holding != active:
                    log.info("worker %s %s", holder, "is active" if holding else "is on standby")
                    active = holding
                if holding:
                    run_pass(app, holder)
            except SQLAlchemyError:  # the database is away: try again next tick
                log.exception("worker pass failed")
                active = False
            stop.wait(tick)
    finally:
        if active:
            try:
                lock.release()
            except SQLAlchemyError:
                log.exception("could not release the worker lock")
        log.info("worker %s stopped", holder)

"""Verifying the trail as a Certificate Transparency monitor does: resume from the last checkpoint
that was verified, check the signed consistency from it to the latest, then re-hash only the
entries sealed since. Each verification is a row of trail_verifications (requested, running with
its progress, then ok / failed / error), so any process on any host can report the latest one
without scanning anything (GET /v1/trail/verify) or ask for a new one (POST: a request row the
worker's task loop picks up, service.tools.worker).

What an incremental verification cannot see: an entry edited, deleted or slipped in among those
already verified, together with its leaf. That is a full verification's to find (`trail verify
--full`, or POST /v1/trail/verify?full=true); the incremental one checks that the verified
checkpoint is still in the database as it was verified, signed, and that the latest extends it,
so a cut or rewritten tree is named at once. A failure, whichever verification found it, is
carried by every later incremental verification until a full one holds: nothing found is
forgotten by looking only at what is new.

Each tenant's log is verified on its own, with its own rows here (tenant_id): a verification
resumes from its log's last one that held, and a failure found in one log is carried by that
log's verifications only (docs/tenant-logs.md).

The resume point is in the database its verification is about: whoever rewrites the database can
also move it. It must be a checkpoint signed by the trail's key, and it only ever saves time; an
auditor who does not trust the service's own record runs `--full`, or keeps `trail checkpoints
export` away from the database and passes it with --against.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import threading
from typing import Callable

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from service.clock import utcnow
from service.record import merkle
from service.record.db import READ_ONLY
from service.record.models import TrailCheckpoint, TrailEntry, TrailVerification
from service.record.trail import EVERY_TENANT, scope, stored_nodes, tenants_in
from service.record.verify import Bad, Progress, RightEdge, Scan, Verification, snapshot
from service.record.models import TrailPending
from service.tenants import DEFAULT_TENANT

log = logging.getLogger(__name__)
V, C, E = TrailVerification.__table__, TrailCheckpoint.__table__, TrailEntry.__table__
INCREMENTAL, FULL = "incremental", "full"
DONE = ("ok", "failed")  # a verification's result ("error": it could not run to the end)
OPEN = ("requested", "running")
STALE = dt.timedelta(minutes=2)  # a running verification silent this long died with its process
HEARTBEAT = dt.timedelta(seconds=5)  # progress is written at most this often
# Leaves of the tree verified before that an incremental verification spot-checks (entry and
# inclusion proof): about 50 ms at a million entries (256 cost 350-600 ms, random reads of nodes).
# A rewrite of 1% of the old entries is found by one verification with odds of 47% (1 - 0.99**64),
# within a day of hourly ones 99.99%; a single entry among a million, within a year, 43%. The full
# verification is what finds it for certain.
SAMPLE = 64

# Extra checks on the checkpoint a verification relies on (the one it verified up to), e.g. a
# witness's cosignature on it. Each is called as check(connection, checkpoint) with the
# checkpoint as {"tree_size", "root_hash", "note", "tenant_id"} and returns a problem in words, or None.
CHECKPOINT_CHECKS: list[Callable[[Connection, dict], str | None]] = []


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def logs(c: Connection) -> list[str]:
    """Every tenant with a log: entries sealed (a checkpoint) or queued."""
    return sorted({*tenants_in(c, C), *tenants_in(c, TrailPending.__table__)})


def request(engine: Engine, mode: str, requested_by: str | None, tenant_id: str = DEFAULT_TENANT) -> int:
    """A verification of `tenant_id`'s log for the worker to run; an open one of the same mode
    and log is answered instead of a second (so no caller can pile full scans up)."""
    with engine.begin() as c:
        scope(c, tenant_id)
        open_id = c.execute(select(V.c.id).where(V.c.tenant_id == tenant_id, V.c.mode == mode, _live())
                            .order_by(V.c.id).limit(1)).scalar()
        if open_id is not None:
            return open_id
        return c.execute(insert(V).values(mode=mode, status="requested", requested_by=requested_by,
                                          tenant_id=tenant_id, requested_at=utcnow()).returning(V.c.id)).scalar_one()


def _live():
    """Requested, or running with a recent heartbeat."""
    return or_(V.c.status == "requested", (V.c.status == "running") & (V.c.heartbeat_at >= utcnow() - STALE))


def claim(engine: Engine, by: str | None = None) -> tuple[int, str, str] | None:
    """Take the oldest requested verification (or one whose process died): (id, mode, tenant), or None.
    The conditional UPDATE makes one taker win, whichever host it runs on."""
    stale = utcnow() - STALE
    waiting = or_(V.c.status == "requested", (V.c.status == "running") & (V.c.heartbeat_at < stale))
    with engine.begin() as c:
        scope(c, EVERY_TENANT)
        for row_id, mode, tenant in c.execute(select(V.c.id, V.c.mode, V.c.tenant_id).where(waiting)
                                              .order_by(V.c.id).limit(5)).all():
            now = utcnow()
            taken = c.execute(update(V).where(V.c.id == row_id, waiting)
                              .values(status="running", holder=by or holder(), started_at=now, heartbeat_at=now,
                                      checked=0)).rowcount
            if taken:
                return row_id, mode, tenant
    return None


Witness = Callable[[Connection, Verification, str], tuple[Verification, list[str]]]


def run(engine: Engine, key, mode: str = INCREMENTAL, row_id: int | None = None, requested_by: str | None = None,
        against: list[dict] | None = None, progress: Progress | None = None, sample: int = SAMPLE,
        witness: Witness | None = None, tenant_id: str = DEFAULT_TENANT) -> tuple[int, Verification]:
    """Run a verification of `tenant_id`'s log (a claimed request's, or a new one) and record its
    result. An incremental one also spot-checks `sample` leaves drawn from the tree verified before.
    `witness(connection, result, tenant_id)` checks the result against the witness's latest cosigned
    checkpoint (service.record.witnessing.verify_with_witness): (the result, notes)."""
    if row_id is None:
        now = utcnow()
        with engine.begin() as c:
            scope(c, tenant_id)
            row_id = c.execute(insert(V).values(mode=mode, status="running", requested_by=requested_by,
                                                tenant_id=tenant_id,
                                                requested_at=now, started_at=now, heartbeat_at=now,
                                                holder=holder(), checked=0).returning(V.c.id)).scalar_one()
    beat = {"at": utcnow()}

    def report(checked: int, to_check: int) -> None:
        if progress is not None:
            progress(checked, to_check)
        if utcnow() - beat["at"] >= HEARTBEAT or checked == to_check:
            beat["at"] = utcnow()
            with engine.begin() as c:
                scope(c, tenant_id)
                c.execute(update(V).where(V.c.id == row_id)
                          .values(checked=checked, to_check=to_check, heartbeat_at=beat["at"]))
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as c, c.begin():
            snapshot(c)
            scope(c, tenant_id)  # the second wall: this log's rows only (each query names it too)
            result = _verify(c, key, mode, against or [], report, row_id, sample, tenant_id)
            if witness is not None:
                result, notes = witness(c, result, tenant_id)
                result = dataclasses.replace(result, warnings=[*result.warnings, *notes])
    except Exception as exc:
        with engine.begin() as c:
            scope(c, tenant_id)
            c.execute(update(V).where(V.c.id == row_id).values(
                status="error", finished_at=utcnow(),
                reason=f"the verification could not finish: {type(exc).__name__}"))
        raise
    with engine.begin() as c:
        scope(c, tenant_id)
        c.execute(update(V).where(V.c.id == row_id).values(
            status="ok" if result.ok else "failed", finished_at=utcnow(), heartbeat_at=utcnow(),
            from_size=result.from_size, tree_size=result.checkpoint, root_hash=result.root_hash, note=result.note,
            max_seq=result.max_seq, sealed_through=result.sealed_through, checked=result.checked,
            entries=result.entries, pending=result.pending, checkpoints=result.checkpoints,
            first_bad_seq=result.first_bad_seq, reason=result.reason,
            problems=[*([] if result.ok else [result.reason]), *result.warnings]))
    return row_id, result


def _verify(c: Connection, key, mode: str, against: list[dict], progress: Progress, row_id: int,
            sample: int, tenant_id: str) -> Verification:
    last_ok = c.execute(select(V).where(V.c.tenant_id == tenant_id, V.c.status == "ok", V.c.id != row_id)
                        .order_by(V.c.finished_at.desc()).limit(1)).first()
    scan = Scan(c, key, progress, tenant_id)
    if mode == FULL or last_ok is None or last_ok.tree_size is None:
        result = scan.full(against)
    else:
        result = _resume(scan, last_ok, against, sample)
    if result.ok:
        result = _relied_on(c, result, tenant_id)
    if result.ok and mode != FULL:
        result = _carried(c, result, last_ok, row_id, tenant_id)
    return result


def _resume(scan: Scan, last, against: list[dict], sample: int) -> Verification:
    """From the last verified checkpoint to the latest: its consistency, the new leaves against
    their entries and the tree, and the entries written since (queued or sealed)."""
    c, tenant = scan.c, scan.tenant
    latest = c.execute(select(C.c.tree_size, C.c.root_hash, C.c.note).where(C.c.tenant_id == tenant)
                       .order_by(C.c.tree_size.desc()).limit(1)).first()
    max_seq = scan.scalar(select(func.max(E.c.seq)).where(E.c.tenant_id == tenant))
    old, when = last.tree_size, _when(last.finished_at)
    new = latest.tree_size if latest is not None else 0
    counts = dict(entries=(last.entries or 0) + scan.scalar(select(func.count()).select_from(E)
                                                            .where(E.c.tenant_id == tenant,
                                                                   E.c.seq > (last.max_seq or 0))),
                  pending=scan.pending(), sealed=new, checkpoint=new or None, from_size=old, max_seq=max_seq,
                  sealed_through=scan.sealed_through(max_seq),
                  checkpoints=(last.checkpoints or 0) + scan.scalar(select(func.count()).select_from(C)
                                                                     .where(C.c.tenant_id == tenant, C.c.tree_size > old)))
    try:
        scan.against(against)
        try:
            scan.checkpoint(old, last.root_hash, last.note)
        except Bad:
            raise Bad(None, f"the checkpoint {old} the verification of {when} held is not signed by the trail's "
                            "key: the verification record was rewritten (run a full verification)") from None
        stored = c.execute(select(C.c.root_hash).where(C.c.tenant_id == tenant, C.c.tree_size == old)).first()
        if stored is None:
            raise Bad(None, f"checkpoint {old}, verified on {when}, is no longer in the database: the tree was "
                            "cut or rewritten")
        if stored.root_hash != last.root_hash:
            raise Bad(None, f"checkpoint {old} differs from the one verified on {when}: the tree was rewritten")
        scan.checkpoint(new, latest.root_hash, latest.note)
        scan.sample(old, last.root_hash, sample)
        if new > old:
            path = _stored(c, lambda get: merkle.consistency_path(old, new, get), tenant)
            if not merkle.verify_consistency(old, new, last.root_hash, latest.root_hash, path):
                raise Bad(None, f"checkpoint {new} does not extend checkpoint {old} verified on {when}: its "
                                "consistency proof fails (the tree was rewritten, or its stored nodes were)")
            edge = _stored(c, lambda get: RightEdge.of_tree(old, get), tenant)
            if edge.root() != last.root_hash:
                raise Bad(None, f"the stored nodes of the tree of {old} leaves no longer hash to its verified root")
            scan.leaves(old, new, edge)
        scan.unsealed(after_seq=last.sealed_through if last.sealed_through is not None else last.max_seq)
    except Bad as bad:
        return Verification(False, first_bad_seq=bad.seq, reason=bad.reason, checked=scan.checked, **counts)
    return Verification(True, checked=scan.checked, root_hash=latest.root_hash, note=latest.note, **counts)


def _stored(c: Connection, build, tenant_id: str):
    """A proof or right edge built from one log's stored nodes; missing nodes are a broken tree."""
    try:
        nodes = stored_nodes(c, merkle.needed(build), tenant_id)
    except LookupError as missing:
        raise Bad(None, f"the tree is incomplete: {missing}") from None
    return build(lambda level, index: nodes[(level, index)])


def _relied_on(c: Connection, result: Verification, tenant_id: str) -> Verification:
    if result.checkpoint is None:
        return result
    checkpoint = {"tree_size": result.checkpoint, "root_hash": result.root_hash, "note": result.note,
                  "tenant_id": tenant_id}
    for check in CHECKPOINT_CHECKS:
        problem = check(c, checkpoint)
        if problem:
            return _failed(result, None, problem)
    return result


def _carried(c: Connection, result: Verification, last_ok, row_id: int, tenant_id: str) -> Verification:
    """A failure found since the last verification that held stands until a full one holds."""
    # What the next incremental verification cannot find again by itself: a full one's finding,
    # or its random spot check's. (A cut tail, a bad new entry or the witness's answer it meets
    # again from the same resume point.)
    failed = select(V).where(V.c.tenant_id == tenant_id, V.c.status == "failed", V.c.id != row_id,
                             or_(V.c.mode == FULL, V.c.reason.contains("(spot check")))
    if last_ok is not None:
        failed = failed.where(V.c.finished_at > last_ok.finished_at)
    failed = c.execute(failed.order_by(V.c.finished_at.desc()).limit(1)).first()
    if failed is None:
        return result
    return _failed(result, failed.first_bad_seq,
                   f"{failed.reason} (found by the {failed.mode} verification of {_when(failed.finished_at)}; "
                   "still standing: only a full verification that holds clears it)")


def _failed(result: Verification, seq: int | None, reason: str) -> Verification:
    fields = {k: getattr(result, k) for k in ("entries", "sealed", "pending", "checkpoint", "checkpoints",
                                              "from_size", "checked", "max_seq", "sealed_through")}
    return Verification(False, first_bad_seq=seq, reason=reason, **fields)


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "an unknown time"


# ---- the worker's task ------------------------------------------------------------------------

_ONE_AT_A_TIME = threading.Lock()  # per process; across hosts the claim decides


def work(engine: Engine, key, every: float, in_thread: bool = True, sample: int = SAMPLE,
         witness: Witness | None = None) -> dict:
    """The worker's task: ask for an incremental verification of every log every `every` seconds,
    and run the oldest one asked for, in a thread of its own (a full one may take minutes: the worker's
    other tasks go on), or here (`in_thread=False`: tests, `worker --once`)."""
    if every > 0:
        with engine.connect() as c, c.begin():
            scope(c, EVERY_TENANT)
            due = [tenant for tenant in logs(c) or [DEFAULT_TENANT]
                   if (last := c.execute(select(func.max(V.c.requested_at))
                                         .where(V.c.tenant_id == tenant)).scalar()) is None
                   or utcnow() - last >= dt.timedelta(seconds=every)]
        for tenant in due:
            request(engine, INCREMENTAL, "worker", tenant)
    if not _ONE_AT_A_TIME.acquire(blocking=False):
        return {"running": True}
    try:
        claimed = claim(engine)
    except Exception:
        _ONE_AT_A_TIME.release()
        raise
    if claimed is None:
        _ONE_AT_A_TIME.release()
        return {}
    row_id, mode, tenant = claimed

    def go():
        try:
            run(engine, key, mode, row_id=row_id, sample=sample, witness=witness, tenant_id=tenant)
        except Exception:  # recorded as an error on its row; the next request tries again
            log.exception("trail verification %s failed to run", row_id)
        finally:
            _ONE_AT_A_TIME.release()
    if in_thread:
        threading.Thread(target=go, name=f"trail-verification-{row_id}", daemon=True).start()
        return {"started": row_id, "mode": mode}
    go()
    return {"ran": row_id, "mode": mode}


# ---- reporting --------------------------------------------------------------------------------

def latest(c: Connection, tenant_id: str = DEFAULT_TENANT) -> dict:
    """The latest finished verification of `tenant_id`'s log and the one open now, read from their
    rows only."""
    mine = V.c.tenant_id == tenant_id
    done = c.execute(select(V).where(mine, V.c.status.in_(DONE)).order_by(V.c.finished_at.desc()).limit(1)).first()
    running = c.execute(select(V).where(mine, _live()).order_by(V.c.id.desc()).limit(1)).first()
    answer = {"ok": False, "entries": 0, "first_bad_seq": None, "sealed": 0, "pending": 0, "checkpoint": None,
              "checkpoints": 0, "verification_id": None, "verified_at": None, "mode": None, "from_checkpoint": None,
              "checked": 0, "root_hash": None,
              "reason": "never verified: POST /v1/trail/verify starts a verification (or `trail verify`)"}
    if done is not None:
        answer.update(ok=done.status == "ok", entries=done.entries or 0, first_bad_seq=done.first_bad_seq,
                      reason=done.reason, sealed=done.tree_size or 0, pending=done.pending or 0,
                      checkpoint=done.tree_size, checkpoints=done.checkpoints or 0, verification_id=done.id,
                      verified_at=done.finished_at, mode=done.mode, from_checkpoint=done.from_size,
                      checked=done.checked or 0, root_hash=done.root_hash)
    answer["in_progress"] = None if running is None else {
        "verification_id": running.id, "mode": running.mode, "status": running.status,
        "requested_at": running.requested_at, "started_at": running.started_at,
        "checked": running.checked or 0, "to_check": running.to_check}
    return answer

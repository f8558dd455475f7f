"""The service's side of its witness (c2sp.org/tlog-witness): submitting every checkpoint until
it is cosigned, reporting how far behind the witness is, and checking the trail against the
checkpoint the witness last cosigned.

Submission is durable: a checkpoint's cosignature is stored (trail_cosignatures), and every
checkpoint without one, past the last cosigned, is submitted oldest first, by the sealer as it
publishes and by the worker's `witness_submit` task every few seconds, whichever process sealed
it, until the witness answers. A failed delivery is only a delay.

What the witness adds: it remembers the largest tree it cosigned, away from our database, and
never cosigns a tree that does not extend it. Cutting the tail (the witness's tree is larger than
ours) or rewriting history and re-signing it with the real checkpoint key (our tree no longer
holds the witness's root) is seen by `trail verify`, which asks the witness for its latest.

Each tenant's log is witnessed on its own: its checkpoints name its origin (trail.log_origin),
the witness keeps its latest per origin, and a log the witness refuses never holds up another's.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.clock import utcnow
from service.record import merkle
from service.record.models import TrailCheckpoint, TrailCosignature
from service.record.trail import EVERY_TENANT, log_origin, prove, scope, tenants_in
from service.tenants import DEFAULT_TENANT
from service.signed_notes import COSIGNATURE_V1, Checkpoint, NoteError, Verifier, split_note, verified_by

log = logging.getLogger(__name__)
SUBMIT_BATCH = 200


class WitnessUnreachable(RuntimeError):
    pass


def witness_vkey(app: Flask) -> str | None:
    """TRAIL_WITNESS_VKEY; in development, with a witness URL and no key given, the development
    witness's: SEPARATION_GUARD_WITNESS_KEY's when the environment sets it for both processes,
    else instance/witness/'s (made by whichever of the two processes starts first)."""
    if app.config.get("TRAIL_WITNESS_VKEY"):
        return app.config["TRAIL_WITNESS_VKEY"]
    if app.config.get("TRAIL_WITNESS_URL") and app.config["ENV"] != "production":
        from service.record.keyring import DEV_WITNESS_NAME, dev_witness_signer
        if app.config.get("WITNESS_KEY"):  # SEPARATION_GUARD_WITNESS_KEY, set for both processes
            from service.config import PROJECT_ROOT
            from service.record.keyring import private_key
            from service.signed_notes import Signer
            key = private_key(app.config["WITNESS_KEY"], "WITNESS_KEY", False, PROJECT_ROOT)
            return Signer(app.config.get("WITNESS_NAME") or DEV_WITNESS_NAME, COSIGNATURE_V1, key).verifier.vkey
        # Named as the witness process names itself (service/witness/cli.py dev_signer).
        return dev_witness_signer(Path(app.instance_path),
                                  os.environ.get("SEPARATION_GUARD_WITNESS_NAME") or DEV_WITNESS_NAME).verifier.vkey
    return None


def witness_verifier(app: Flask) -> Verifier | None:
    vkey = witness_vkey(app)
    if vkey is None:
        return None
    verifier = Verifier.from_vkey(vkey)
    if verifier.alg != COSIGNATURE_V1:
        raise NoteError("TRAIL_WITNESS_VKEY is not a cosignature/v1 key (type 0x04)")
    return verifier


# -- submitting ---------------------------------------------------------------------------------

def submit_pending(app: Flask, tenants: list[str] | None = None) -> dict:
    """Submit every checkpoint not cosigned yet, of every log, oldest first; in each log stop at the
    first refusal or failure (the next round starts there again). Returns counts for the worker's
    report (`waiting` and `status`: the first log that stopped; `logs`: every one that did).
    `tenants`: only their logs (the sealer's, just checkpointed); by default every log."""
    url = app.config.get("TRAIL_WITNESS_URL")
    if not url:
        return {"witness": "not configured"}
    verifier = witness_verifier(app)
    if verifier is None:
        return {"witness": "TRAIL_WITNESS_VKEY is not set"}
    if tenants is None:
        with app.extensions["db_read_sessions"]() as session:
            scope(session.connection(), EVERY_TENANT)
            tenants = tenants_in(session.connection(), TrailCheckpoint.__table__)
    total = {"cosigned": 0, "skipped": 0}
    for tenant in sorted(tenants):
        done = _submit_log(app, url, verifier, tenant)
        total["cosigned"] += done["cosigned"]
        total["skipped"] += done["skipped"]
        if "status" in done:
            total.setdefault("waiting", done["waiting"])
            total.setdefault("status", done["status"])
            total.setdefault("logs", {})[tenant] = {"waiting": done["waiting"], "status": done["status"]}
    return total


def _submit_log(app: Flask, url: str, verifier: Verifier, tenant: str) -> dict:
    sessions, timeout = app.extensions["db_read_sessions"], float(app.config["TRAIL_WITNESS_TIMEOUT"])
    with sessions() as session:
        scope(session.connection(), tenant)
        old = session.scalar(select(func.max(TrailCosignature.tree_size))
                             .where(TrailCosignature.tenant_id == tenant)) or 0
        todo = list(session.execute(select(TrailCheckpoint.tree_size, TrailCheckpoint.note)
                                    .where(TrailCheckpoint.tenant_id == tenant, TrailCheckpoint.tree_size > old)
                                    .order_by(TrailCheckpoint.tree_size).limit(SUBMIT_BATCH)))

    def submit(old: int, size: int, note: str) -> tuple[int, str]:
        with sessions() as session:
            scope(session.connection(), tenant)
            body = add_checkpoint_body(session, old, size, note, tenant)
        return _post(url, body, timeout)

    cosigned = skipped = 0
    for size, note in todo:
        if size < old:  # the witness cosigned a later one: this one is covered by it
            skipped += 1
            continue
        status, answer = submit(old, size, note)
        if status == 409:  # the witness's latest is not the one we stored (a cosignature lost, say)
            theirs = _size(answer)
            if theirs is not None and theirs > size:
                skipped, old = skipped + 1, theirs
                continue
            if theirs is not None:
                old = theirs
                status, answer = submit(old, size, note)
        if status != 200:
            log.warning("the witness did not cosign checkpoint %s of %s (old size %s): %s %s", size, tenant, old,
                        status, answer.strip()[:300])
            return {"cosigned": cosigned, "skipped": skipped, "waiting": size, "status": status}
        _store(app, tenant, size, note, answer, verifier)
        cosigned, old = cosigned + 1, size
    return {"cosigned": cosigned, "skipped": skipped}


def _size(answer: str) -> int | None:
    text = answer.strip()
    return int(text) if text.isdigit() else None


def add_checkpoint_body(session: Session, old: int, size: int, note: str, tenant: str = DEFAULT_TENANT) -> str:
    """old size, the consistency proof from it (the log's stored nodes), a blank line, the checkpoint."""
    proof = prove(session, lambda get: merkle.consistency_path(old, size, get), tenant) if 0 < old < size else []
    return f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + note


def _post(url: str, body: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"unreachable ({exc})"


def _store(app: Flask, tenant: str, size: int, note: str, answer: str, verifier: Verifier) -> None:
    """Keep the witness's signature line, once it verifies over our checkpoint."""
    line = next((line for line in answer.splitlines() if line.split(" ")[1:2] == [verifier.name]), None)
    stamps = verified_by(note + line + "\n", [verifier]) if line else {}
    if not stamps:
        raise NoteError("the witness answered without a cosignature that verifies with TRAIL_WITNESS_VKEY")
    stamp = next(iter(stamps.values()))
    try:
        with app.extensions["db_sessions"]() as session, session.begin():
            scope(session.connection(), tenant)
            session.execute(insert(TrailCosignature).values(
                tenant_id=tenant, tree_size=size, witness=verifier.vkey, signature=line,
                cosigned_at=dt.datetime.fromtimestamp(stamp, dt.timezone.utc)))
    except IntegrityError:
        pass  # another process stored its cosignature first


# -- /readyz ------------------------------------------------------------------------------------

def witness_status(app: Flask, tenant: str = DEFAULT_TENANT) -> dict:
    """How far the witness is behind on `tenant`'s log: "behind" once the oldest checkpoint waiting
    for its cosignature has waited TRAIL_WITNESS_DEGRADED_SECONDS (then /readyz says degraded)."""
    if not app.config.get("TRAIL_WITNESS_URL"):
        return {"status": "not configured"}
    with app.extensions["db_read_sessions"]() as session:
        scope(session.connection(), tenant)
        cosigned = session.scalar(select(func.max(TrailCosignature.tree_size))
                                  .where(TrailCosignature.tenant_id == tenant)) or 0
        latest = session.scalar(select(func.max(TrailCheckpoint.tree_size))
                                .where(TrailCheckpoint.tenant_id == tenant)) or 0
        waiting_since = session.scalar(select(TrailCheckpoint.published_at).where(
            TrailCheckpoint.tenant_id == tenant, TrailCheckpoint.tree_size > cosigned)
            .order_by(TrailCheckpoint.tree_size).limit(1))
    body = {"status": "ok", "latest_checkpoint": latest, "latest_cosigned": cosigned}
    if waiting_since is not None:
        if waiting_since.tzinfo is None:  # SQLite hands back naive UTC
            waiting_since = waiting_since.replace(tzinfo=dt.timezone.utc)
        waited = (utcnow() - waiting_since).total_seconds()
        body["seconds_waiting"] = round(waited, 1)
        if waited > float(app.config["TRAIL_WITNESS_DEGRADED_SECONDS"]):
            body["status"] = "behind"
    return body


# -- verifying ----------------------------------------------------------------------------------

def fetch_witnessed(app: Flask, tenant: str = DEFAULT_TENANT) -> str | None:
    """The witness's latest cosigned checkpoint of `tenant`'s log (None: it has cosigned none)."""
    origin_hash = hashlib.sha256(log_origin(app.config["TRAIL_ORIGIN"], tenant).encode()).hexdigest()
    url = f"{app.config['TRAIL_WITNESS_URL'].rstrip('/')}/{origin_hash}/checkpoint"
    try:
        with urllib.request.urlopen(url, timeout=float(app.config["TRAIL_WITNESS_TIMEOUT"])) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise WitnessUnreachable(f"the witness answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessUnreachable(f"the witness could not be reached ({exc})") from None


def check_against_witness(session: Session, ring, witness: Verifier, witnessed: str | None,
                          grace_seconds: float, tenant: str = DEFAULT_TENANT) -> tuple[str | None, list[str]]:
    """(why `tenant`'s log does not hold against the witness's latest cosigned checkpoint of it or
    None, warnings). `witnessed` is that checkpoint as the witness serves it (a note with the log's
    signature and the witness's cosignature), or None when the witness has cosigned none."""
    mine = TrailCheckpoint.tenant_id == tenant
    ours = session.scalar(select(func.max(TrailCheckpoint.tree_size)).where(mine)) or 0

    def first_after(size: int):  # the checkpoint that has waited longest for a cosignature after `size`
        return session.scalar(select(TrailCheckpoint.published_at).where(mine, TrailCheckpoint.tree_size > size)
                              .order_by(TrailCheckpoint.tree_size).limit(1))

    if witnessed is None:
        if ours and _waited(first_after(0)) > grace_seconds:
            return (f"the witness has cosigned no checkpoint of this log, and the first one here waited "
                    f"{_waited(first_after(0)):.0f} s: it was never delivered, or refused"), []
        return None, ([f"checkpoints up to {ours} await the witness's cosignature"] if ours else [])
    try:
        text, _ = split_note(witnessed)
        theirs = Checkpoint.parse(text)
        signed = verified_by(witnessed, [witness, *ring.checkpoint_verifiers()])
    except NoteError as exc:
        return f"the witness's checkpoint does not verify: {exc}", []
    if witness.vkey not in signed:
        return "the witness's checkpoint carries no valid cosignature of the witness's key (TRAIL_WITNESS_VKEY)", []
    if theirs.origin != log_origin(ring.name, tenant):
        return f"the witness's checkpoint is of the log {theirs.origin}, not of {log_origin(ring.name, tenant)}", []
    if not set(signed) - {witness.vkey}:
        return "the witness's checkpoint is not signed by a checkpoint key of this trail", []
    if theirs.size > ours:
        return (f"the witness cosigned checkpoint {theirs.size}, but the trail ends at checkpoint {ours}: "
                f"entries were cut from its end (with their leaves and checkpoints)"), []
    root = session.scalar(select(TrailCheckpoint.root_hash).where(mine, TrailCheckpoint.tree_size == theirs.size))
    if root is None:
        return (f"checkpoint {theirs.size}, which the witness cosigned, is not in the database: the tree "
                "was rewritten and sealed again"), []
    if root != theirs.root:
        return (f"checkpoint {theirs.size} in the database has another root than the one the witness cosigned: "
                "the trail was rewritten and re-signed with the checkpoint key"), []
    warnings = []
    if ours > theirs.size:
        waited = _waited(first_after(theirs.size))
        if waited > grace_seconds:
            return (f"checkpoints after {theirs.size} (up to {ours}) have no cosignature of the witness after "
                    f"{waited:.0f} s: it refused them (not consistent with what it cosigned) or never "
                    "received them"), []
        warnings.append(f"checkpoints {theirs.size}..{ours} await the witness's cosignature")
    return None, warnings


def _waited(published: dt.datetime) -> float:
    if published.tzinfo is None:
        published = published.replace(tzinfo=dt.timezone.utc)
    return (utcnow() - published).total_seconds()


def verify_with_witness(app: Flask, session: Session, result, witnessed: str | None = None,
                        tenant: str = DEFAULT_TENANT):
    """`trail verify`'s last step: the verified log of `tenant` (service.record.verify.Verification)
    checked against the witness's latest cosigned checkpoint of it (`witnessed`, kept earlier, or
    asked of the witness now). Returns (the verification, not ok when it does not hold; notes to print)."""
    import dataclasses
    verifier = witness_verifier(app)
    if verifier is None:
        return result, ["no witness is configured (TRAIL_WITNESS_URL, TRAIL_WITNESS_VKEY): a cut tail or a "
                        "rewrite re-signed with the checkpoint key would not be seen"]
    if not result.ok:
        return result, []
    try:
        note = witnessed if witnessed is not None else fetch_witnessed(app, tenant)
    except WitnessUnreachable as exc:
        return dataclasses.replace(result, ok=False, reason=f"{exc}: the trail is not checked against it"), []
    reason, warnings = check_against_witness(session, app.extensions["trail_key"], verifier, note,
                                             float(app.config["TRAIL_WITNESS_DEGRADED_SECONDS"]), tenant)
    if reason:
        return dataclasses.replace(result, ok=False, reason=reason), warnings
    return result, warnings

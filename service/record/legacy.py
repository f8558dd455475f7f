"""Sealing, once, the entries queued before writers signed what they queued.

Migration 0008 moved them to trail_legacy_pending, out of the sealer's way: the sealer refuses
any row without its writer's signature, and these have none. `separation-guard trail seal
--legacy-unsigned` seals them here, once: an entry queued with its writer's hash gets that hash;
one queued without (migration 0005 queued the hash-chained entries so, and rule-set entries were
queued so until 0008) gets its chain hash if its content still holds it, or else (rule-set
entries) the hash of its content as it is now: that is the one time the trail trusts content it
did not see written, so the command says which entries it was. It records what it did as a
`legacy_sealed` entry, and refuses to run again once that entry exists: a row put in that queue
afterwards is never sealed, and `trail verify` names it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine

from service.clock import utcnow
from service.record import sealer
from service.record.models import TrailEntry, TrailLegacyPending
from service.record.trail import (CONTENT, EVERY_TENANT, HASHED, LEGACY_SEALED, SCHEME, SEAL_REFUSED, append_on,
                                  entry_hash, entry_values, scope)


class AlreadySealed(Exception):
    """The legacy queue was sealed once; it is never sealed again."""


@dataclass(frozen=True)
class LegacySealing:
    sealed: list[int]                      # seqs, in the order they became leaves
    hashed_now: list[int]                  # of those, sealed with the hash of their content as it is now
    refused: list[tuple[int, str]] = field(default_factory=list)
    marker_entry_id: str = ""


def seal_legacy(engine: Engine, key) -> LegacySealing:
    """Seal the legacy queue in one transaction, with the sealers' lock; raises AlreadySealed."""
    lock = None
    if engine.dialect.name != "postgresql":
        lock = sealer._LOCAL
        lock.acquire()
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": sealer.SEALER_LOCK})
            scope(connection, EVERY_TENANT)  # the default log's, and the sealer's own entries
            done = connection.execute(select(TrailEntry.seq, TrailEntry.recorded_at, TrailEntry.body)
                                      .where(TrailEntry.kind == LEGACY_SEALED).limit(1)).first()
            if done is not None:
                raise AlreadySealed(
                    f"the entries queued before signed queueing were sealed once already (entry {done.seq}, "
                    f"{done.recorded_at:%Y-%m-%d %H:%M} UTC, {len(done.body.get('sealed', []))} entries); "
                    "they are never sealed twice")
            columns = [TrailEntry.__table__.c[name] for name in ("seq", *HASHED[1:], "hash", "hash_scheme")]
            rows = connection.execute(select(TrailLegacyPending.seq.label("queued_seq"),
                                             TrailLegacyPending.hash.label("queued"), *columns)
                                      .outerjoin(TrailEntry, TrailEntry.seq == TrailLegacyPending.seq)
                                      .order_by(TrailLegacyPending.seq)).all()
            leaves, hashed_now, refused = [], [], []
            for row in rows:
                leaf, reason = _leaf(row)
                if leaf is None:
                    refused.append((row.queued_seq, reason))
                    continue
                leaves.append((row.queued_seq, leaf))
                if row.queued is None and row.hash_scheme == SCHEME:
                    hashed_now.append(row.queued_seq)
            connection.execute(delete(TrailLegacyPending))
            if leaves:
                sealer.append_leaves(connection, key, leaves)
            now = utcnow()
            marker = entry_values(kind=LEGACY_SEALED, recorded_at=now, ruleset_version="",
                                  body={"sealed": [seq for seq, _ in leaves], "hashed_now": hashed_now,
                                        "refused": [seq for seq, _ in refused]})
            refusals = [entry_values(kind=SEAL_REFUSED, recorded_at=now, ruleset_version="",
                                     body={"refused_seq": seq, "entry_id": None, "reason": reason})
                        for seq, reason in refused]
            append_on(connection, [marker, *refusals], key)  # queued, signed: the next round seals them
    finally:
        if lock is not None:
            lock.release()
    return LegacySealing([seq for seq, _ in leaves], hashed_now, refused, marker["entry_id"])


def _leaf(row) -> tuple[bytes | None, str | None]:
    if row.seq is None:
        return None, "its entry is not in the trail"
    if row.queued is not None:
        return row.queued, None
    content = {name: getattr(row, name) for name in (*HASHED, "hash_scheme")}
    if row.hash_scheme == SCHEME:
        return bytes.fromhex(entry_hash({name: content[name] for name in (*CONTENT, "hash_scheme")})), None
    if row.hash and entry_hash(content) == row.hash:
        return bytes.fromhex(row.hash), None
    return None, "queued without a hash, and its content no longer holds its chain hash"

"""A month of the trail past its retention, archived: never deleted in place (docs/scaling.md).

`trail archive --before YYYY-MM` takes each month's partition of trail_entries (PostgreSQL,
service.record.partitions) older than that month and past retention, and for each tenant with
entries in it writes one file, `trail_entries_YYYY_MM.<tenant>.jsonl`, that its auditor verifies
offline with nothing of ours (verify_archive, or by hand): a header naming the log's origin, the
tenant's latest signed checkpoint, then each entry with the content its leaf hashes
(trail.leaf_data) and its RFC 6962 inclusion proof to that checkpoint. One tenant's file holds
nothing of another's. Only then is the partition detached (kept as `archived_trail_entries_YYYY_MM`
for the operator to dump and drop once the files are stored) and each tenant's seq range recorded
in trail_archives: the tree keeps the leaves, so every later proof still works, and
verification counts an entry absent in an archived range as archived, not missing.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sqlalchemy import column, insert, select, table, text
from sqlalchemy.engine import Connection, Engine

from service.clock import utcnow
from service.record import merkle
from service.record.models import TrailArchive, TrailCheckpoint, TrailLeaf
from service.record.log_export import OfflineRefusal, b64, content_leaf, signed_checkpoint
from service.record.partitions import attached, next_month
from service.record.trail import CONTENT, EVERY_TENANT, SCHEME, leaf_data, log_origin, prove, scope
from service.signed_notes import Verifier

FORMAT = "separation-guard/trail-archive/v1"
MIN_RETENTION_MONTHS = 24  # LCL-50: at least two years


class ArchiveRefused(Exception):
    """Nothing archived: the reason names the month or the entry."""


@dataclass(frozen=True)
class Archived:
    month: dt.date
    partition: str
    files: list[Path]
    entries: int


def past_retention(today: dt.date, months: int) -> dt.date:
    """The first month still within retention: every month before it may be archived."""
    return next_month(dt.date(today.year, today.month, 1), -max(months, MIN_RETENTION_MONTHS))


def archive(engine: Engine, origin: str, before: dt.date, today: dt.date, retention_months: int,
            directory: Path) -> list[Archived]:
    """Archive every month's partition before `before`; refused whole (nothing detached) when one
    is within retention or holds an entry not sealed under a checkpoint."""
    if engine.dialect.name != "postgresql":
        raise ArchiveRefused("the trail is partitioned by month on PostgreSQL only; SQLite keeps one table")
    first_kept = past_retention(today, retention_months)
    if before > first_kept:
        raise ArchiveRefused(f"{before:%Y-%m} is within retention ({max(retention_months, MIN_RETENTION_MONTHS)} "
                             f"months): months before {first_kept:%Y-%m} may be archived")
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    with engine.begin() as c:
        scope(c, EVERY_TENANT)
        for name, month in attached(c):
            if month >= before:
                continue
            files, ranges = _write(c, origin, name, month, directory)
            c.execute(text(f"ALTER TABLE trail_entries DETACH PARTITION {name}"))
            c.execute(text(f"ALTER TABLE {name} RENAME TO archived_{name}"))
            for tenant, (first, last, count, path) in ranges.items():
                c.execute(insert(TrailArchive).values(
                    tenant_id=tenant, month=month, first_seq=first, last_seq=last, entries=count,
                    file_name=path.name, file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                    archived_at=utcnow()))
            done.append(Archived(month, name, files, sum(r[2] for r in ranges.values())))
    return done


def _write(c: Connection, origin: str, name: str, month: dt.date, directory: Path):
    part = table(name, *[column(n) for n in (*CONTENT, "hash_scheme", "tenant_id", "seq")])
    rows = c.execute(select(part, TrailLeaf.leaf_index, TrailLeaf.hash.label("leaf"))
                     .outerjoin(TrailLeaf, (TrailLeaf.tenant_id == part.c.tenant_id) & (TrailLeaf.seq == part.c.seq))
                     .order_by(part.c.tenant_id, part.c.seq)).all()
    by_tenant: dict[str, list] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    files, ranges = [], {}
    for tenant, entries in by_tenant.items():
        checkpoint = c.execute(select(TrailCheckpoint).where(TrailCheckpoint.tenant_id == tenant)
                               .order_by(TrailCheckpoint.tree_size.desc()).limit(1)).first()
        for row in entries:
            if row.leaf_index is None or checkpoint is None or row.leaf_index >= checkpoint.tree_size:
                raise ArchiveRefused(f"entry {row.seq} of {tenant} ({name}) is not sealed under a checkpoint yet")
            if row.hash_scheme != SCHEME:  # `trail verify` walks their hash chain, which must stay whole
                raise ArchiveRefused(f"entry {row.seq} of {tenant} ({name}) was written before the tree: "
                                     "entries of the hash chain stay online")
        path = directory / f"{name}.{tenant}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps({"format": FORMAT, "tenant": tenant, "origin": log_origin(origin, tenant),
                                  "month": f"{month:%Y-%m}"}) + "\n")
            out.write(json.dumps({"checkpoint": {"tree_size": checkpoint.tree_size,
                                                 "root_hash": b64(checkpoint.root_hash),
                                                 "note": checkpoint.note}}, ensure_ascii=False) + "\n")
            for row in entries:
                size, index = checkpoint.tree_size, row.leaf_index
                path_hashes = prove(c, lambda get: merkle.inclusion_path(index, size, get), tenant)
                line = {"leaf_index": index, "seq": row.seq, "entry_id": row.entry_id,
                        "content": json.loads(leaf_data(dict(row._mapping))),
                        "inclusion_path": [b64(h) for h in path_hashes]}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        files.append(path)
        ranges[tenant] = (entries[0].seq, entries[-1].seq, len(entries), path)
    return files, ranges


class ArchivedRanges:
    """The seq ranges of one tenant's archived months: `seq in ranges`. Verification re-hashes
    those leaves as leaves (the tree keeps them); their entries are in the files, not missing."""

    def __init__(self, c: Connection, tenant_id: str):
        self.ranges = [(r.first_seq, r.last_seq) for r in c.execute(
            select(TrailArchive.first_seq, TrailArchive.last_seq).where(TrailArchive.tenant_id == tenant_id))]

    def __contains__(self, seq: int) -> bool:
        return any(first <= seq <= last for first, last in self.ranges)


@dataclass(frozen=True)
class ArchiveCheck:
    ok: bool
    origin: str | None
    entries: int
    reason: str | None = None


def verify_archive(lines: Iterable[str], checkpoint_vkeys: list[str]) -> ArchiveCheck:
    """Check an archive file offline against checkpoint verifier keys got out of band: the
    checkpoint is signed and names the file's log; every entry's content hashes to a leaf whose
    inclusion proof leads to the checkpoint's root."""
    verifiers = [Verifier.from_vkey(v) for v in checkpoint_vkeys]
    origin, tenant, signed, count = None, None, None, 0

    def failed(reason: str) -> ArchiveCheck:
        return ArchiveCheck(False, origin, count, reason)
    for number, text_line in enumerate((t for t in lines if t.strip()), 1):
        line = json.loads(text_line)
        if number == 1:
            if line.get("format") != FORMAT:
                return failed("not a trail archive (its first line names no format " + FORMAT + ")")
            origin, tenant = line["origin"], line["tenant"]
        elif number == 2:
            try:
                signed = signed_checkpoint((line.get("checkpoint") or {}).get("note", ""), verifiers, origin)
            except OfflineRefusal as exc:
                return failed(f"the checkpoint: {exc}")
        else:
            if signed is None:
                return failed("no checkpoint before the entries")
            leaf = content_leaf(line["content"], tenant)
            if leaf is None:
                return failed(f"entry {line['seq']} is not of this log's tenant {tenant}")
            path = [base64.b64decode(h) for h in line["inclusion_path"]]
            if not merkle.verify_inclusion(line["leaf_index"], signed.size, leaf, path, signed.root):
                return failed(f"entry {line['seq']} (leaf {line['leaf_index']}) does not lead to checkpoint "
                              f"{signed.size}'s signed root: it was altered, or its proof was")
            count += 1
    if origin is None:
        return failed("the archive is empty")
    return ArchiveCheck(True, origin, count)

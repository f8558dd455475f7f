"""One tenant's log, exported for its auditor (`trail export --tenant T FILE`), and checked offline
(`trail verify-export FILE --checkpoint-vkey VKEY`, or by hand: docs/tenant-logs.md).

The export holds that tenant's log and nothing of any other: a header naming the log's origin,
its signed checkpoints, then its sealed entries in leaf order, each with the content its leaf
hashes (the JSON array of trail.leaf_data). The check needs no database and nothing of ours but
SHA-256 and Ed25519 (service.signed_notes): every checkpoint is signed by a checkpoint key the
auditor got out of band and names the log's origin, every leaf is recomputed from its entry's
content, and the tree of those leaves has each checkpoint's root at its size.

Entries written before the tree (hash schemes 1 and 2, the default log only) are their chain
hash: their leaf is exported as is and counted apart (`trail verify --full` checks their chain).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.engine import Connection

from service.record import merkle
from service.record.merkle import RightEdge
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf
from service.record.trail import HASHED, SCHEME, leaf_data, log_origin
from service.signed_notes import Checkpoint, NoteError, Verifier, split_note, verified_by
from service.tenants import DEFAULT_TENANT

FORMAT = "separation-guard/log-export/v1"
_BATCH = 1000


def export(c: Connection, origin: str, tenant_id: str) -> Iterator[dict]:
    """The lines of `tenant_id`'s export, in order (JSON objects): header, checkpoints, entries."""
    yield {"format": FORMAT, "tenant": tenant_id, "origin": log_origin(origin, tenant_id)}
    size = 0
    for row in c.execute(select(TrailCheckpoint.tree_size, TrailCheckpoint.root_hash, TrailCheckpoint.note)
                         .where(TrailCheckpoint.tenant_id == tenant_id).order_by(TrailCheckpoint.tree_size)):
        size = row.tree_size
        yield {"checkpoint": {"tree_size": row.tree_size, "root_hash": b64(row.root_hash), "note": row.note}}
    columns = [TrailEntry.__table__.c[name] for name in (*HASHED, "hash", "hash_scheme", "tenant_id")]
    for low in range(0, size, _BATCH):
        for row in c.execute(select(TrailLeaf.leaf_index, TrailLeaf.hash.label("leaf"), *columns)
                             .outerjoin(TrailEntry, (TrailEntry.seq == TrailLeaf.seq)
                                        & (TrailEntry.tenant_id == tenant_id))
                             .where(TrailLeaf.tenant_id == tenant_id, TrailLeaf.leaf_index >= low,
                                    TrailLeaf.leaf_index < min(size, low + _BATCH))
                             .order_by(TrailLeaf.leaf_index)):
            line = {"leaf_index": row.leaf_index, "seq": row.seq, "entry_id": row.entry_id}
            if row.hash_scheme == SCHEME:
                line["content"] = json.loads(leaf_data(dict(row._mapping)))
            else:  # written before the tree, or missing: the leaf as stored
                line["leaf"] = row.leaf.hex()
            yield line


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class OfflineRefusal(Exception):
    """What an offline check of an exported file found wrong, in words."""


def signed_checkpoint(note: str, verifiers: list[Verifier], origin: str) -> Checkpoint:
    """The checkpoint of a signed note, if a given checkpoint key signed it and it names `origin`;
    else OfflineRefusal saying why. The export's and the archive's check both read theirs so."""
    try:
        signed = verified_by(note, verifiers)
        parsed = Checkpoint.parse(split_note(note)[0])
    except NoteError as exc:
        raise OfflineRefusal(str(exc)) from None
    if not signed:
        raise OfflineRefusal(f"checkpoint {parsed.size} is not signed by a checkpoint key given")
    if parsed.origin != origin:
        raise OfflineRefusal(f"checkpoint {parsed.size} is of the log {parsed.origin}, not {origin}")
    return parsed


def content_leaf(content: list, tenant: str) -> bytes | None:
    """The leaf hash of an entry's exported content (trail.leaf_data), or None when the content is
    another tenant's (a non-default tenant's content ends with its tenant id)."""
    theirs = len(content) != len(HASHED) - 2
    if (content[-1] if theirs else DEFAULT_TENANT) != tenant:
        return None
    return merkle.leaf_hash(json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())


@dataclass(frozen=True)
class ExportCheck:
    ok: bool
    origin: str | None
    entries: int
    checkpoints: int
    taken_as_is: int  # leaves of entries written before the tree
    reason: str | None = None


def verify_export(lines: Iterable[str], checkpoint_vkeys: list[str]) -> ExportCheck:
    """Check an export offline against checkpoint verifier keys got out of band."""
    verifiers = [Verifier.from_vkey(v) for v in checkpoint_vkeys]
    origin, tenant, checkpoints, edge, as_is = None, None, {}, RightEdge(), 0

    def failed(reason: str) -> ExportCheck:
        return ExportCheck(False, origin, edge.size, len(checkpoints), as_is, reason)
    for number, text in enumerate((t for t in lines if t.strip()), 1):
        line = json.loads(text)
        if number == 1:
            if line.get("format") != FORMAT:
                return failed("not a log export (its first line names no format " + FORMAT + ")")
            origin, tenant = line["origin"], line["tenant"]
        elif "checkpoint" in line:
            try:
                parsed = signed_checkpoint(line["checkpoint"]["note"], verifiers, origin)
            except OfflineRefusal as exc:
                return failed(f"checkpoint {line['checkpoint']['tree_size']}: {exc}")
            checkpoints[parsed.size] = parsed.root
        else:
            if line["leaf_index"] != edge.size:
                return failed(f"leaf {edge.size} is missing (the next is {line['leaf_index']})")
            if "content" in line:
                leaf = content_leaf(line["content"], tenant)
                if leaf is None:
                    return failed(f"entry {line['seq']} (leaf {edge.size}) is not of this log's tenant {tenant}")
            else:
                leaf, as_is = bytes.fromhex(line["leaf"]), as_is + 1
            edge.push(leaf)
            if edge.size in checkpoints and edge.root() != checkpoints[edge.size]:
                return failed(f"the first {edge.size} leaves do not hash to checkpoint {edge.size}'s signed root: "
                              "an entry among them was altered, added or removed")
    if origin is None:
        return failed("the export is empty")
    if checkpoints and edge.size != max(checkpoints):
        return failed(f"the export ends at leaf {edge.size}, before checkpoint {max(checkpoints)}")
    return ExportCheck(True, origin, edge.size, len(checkpoints), as_is)

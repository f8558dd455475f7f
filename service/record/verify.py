"""Verifying the trail: every signed checkpoint, every sealed entry against its leaf, the tree
against every checkpoint (and an exported copy of them), the old hash chain, and that every other
entry is queued (pending). Names the first thing that does not hold.

At a million entries an ORM version spent 97% of its time in Python, so this streams core rows
(yield_per), reads `body` and `rule_ids` as stored text and re-encodes with orjson (the canonical
form of service.record.trail); an entry whose fast hash is not its leaf is hashed again the
reference way (trail.entry_hash) before it is called altered: no false alarm, no hidden edit.
Memory stays bounded: a batch of rows and the tree's right edge; checkpoints stream beside.

`verify_chain` is the full verification; service.record.verification resumes from the last one
that held and walks only the leaves after it (Scan.leaves from a stored right edge).

Each tenant's log is verified on its own, its checkpoints naming its origin (docs/tenant-logs.md);
what came before the tree (the hash chain, the legacy queue) is the default log's.
"""
from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service.record import merkle
from service.record.archive import ArchivedRanges as Archived
from service.record.merkle import RightEdge  # noqa: F401 -- verification.py reads it here too
from service.record.models import (TrailCheckpoint, TrailEntry, TrailHead, TrailLeaf, TrailLegacyPending,
                                   TrailPending)
from service.record.trail import (CONTENT, GENESIS, HASHED, LEGACY_SEALED, SCHEME, SEAL_REFUSED, _canonical, b64,
                                  entry_hash, hash_of, log_origin, receipt_time, scope, stored_nodes)
from service.tenants import DEFAULT_TENANT

E, L, P, C = TrailEntry.__table__, TrailLeaf.__table__, TrailPending.__table__, TrailCheckpoint.__table__
BATCH = 5000  # rows per fetch from the server-side cursor
PROGRESS_EVERY = 50_000  # leaves between two progress reports
_AS_TEXT = ("rule_ids", "body")  # decoded here (orjson), not by the driver
_AT = {name: i for i, name in enumerate(CONTENT)}
Progress = Callable[[int, int], None]  # (leaves checked, leaves to check)


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    sealed: int = 0
    pending: int = 0
    checkpoint: int | None = None      # the tree size verified up to
    checkpoints: int = 0
    warnings: list[str] = field(default_factory=list)
    from_size: int | None = None       # the verified checkpoint an incremental verification resumed from
    checked: int = 0                   # leaves re-hashed against their entries
    root_hash: bytes | None = None     # the root of checkpoint `checkpoint`, and its signed note
    note: str | None = None
    max_seq: int | None = None         # the highest entry seq seen
    sealed_through: int | None = None  # every entry up to this seq is a leaf (none queued)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason, "sealed": self.sealed, "pending": self.pending,
                "checkpoint": self.checkpoint, "checkpoints": self.checkpoints}


class Bad(Exception):
    def __init__(self, seq, reason):
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def snapshot(connection: Connection) -> None:
    """Everything read next is one consistent state of the database (PostgreSQL)."""
    if connection.dialect.name == "postgresql" and not connection.in_nested_transaction():
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def verify_chain(session: Session, key=None, against: list[dict] | None = None,
                 progress: Progress | None = None, tenant_id: str = DEFAULT_TENANT) -> Verification:
    """The full verification of one tenant's log, in one consistent snapshot of the database (a
    transaction of its own: the session's first statement names its tenant, and a snapshot is
    taken before any)."""
    with session.get_bind().connect() as connection, connection.begin():
        snapshot(connection)
        scope(connection, tenant_id)
        return Scan(connection, key, progress, tenant_id).full(against or [])


def _content_columns(dialect: str) -> list:
    """The content columns as the fast path reads them: JSON as its stored text; on PostgreSQL
    the times already in their canonical text (what trail._canonical makes of them)."""
    columns = []
    for name in CONTENT:
        column = E.c[name]
        if name in _AS_TEXT:
            column = cast(column, Text)
        elif dialect == "postgresql" and name == "recorded_at":
            column = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
        elif dialect == "postgresql" and name == "as_of":
            column = func.to_char(column, "YYYY-MM-DD")
        columns.append(column.label(name))
    return [*columns, E.c.tenant_id]  # last: hashed only when not the default log's (trail.leaf_data)


_RECORDED_AT, _AS_OF, _RULE_IDS, _BODY = (_AT[n] for n in ("recorded_at", "as_of", "rule_ids", "body"))
_CONTENT_FROM = 4  # leaf_index, leaf_seq, leaf, hash_scheme, then the content


def _fast_leaf(row, loads=orjson.loads, dumps=orjson.dumps, sort=orjson.OPT_SORT_KEYS,
               sha256=hashlib.sha256) -> bytes | None:
    """The leaf hash of a scheme-3 entry's content, encoded by orjson; None if it cannot."""
    try:
        content = list(row[_CONTENT_FROM:])
        if content.pop() != DEFAULT_TENANT:
            content.append(row[-1])
        recorded_at, as_of = content[_RECORDED_AT], content[_AS_OF]
        if recorded_at.__class__ is not str:
            content[_RECORDED_AT] = _canonical(recorded_at)
        if as_of is not None and as_of.__class__ is not str:
            content[_AS_OF] = as_of.isoformat()
        content[_RULE_IDS] = loads(content[_RULE_IDS])
        content[_BODY] = loads(content[_BODY])
        return sha256(b"\x00" + dumps(content, option=sort)).digest()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, ValueError, AttributeError):
        return None


class Scan:
    """Checks over one connection, inside the caller's (snapshot) transaction."""

    def __init__(self, connection: Connection, key, progress: Progress | None = None,
                 tenant_id: str = DEFAULT_TENANT):
        self.c, self.key, self.progress, self.tenant = connection, key, progress, tenant_id
        self.default = tenant_id == DEFAULT_TENANT  # the log that holds what came before the tree
        self.checked = 0
        self.archived = Archived(connection, tenant_id)  # leaves verified; entries in files, not missing

    def scalar(self, query):
        return self.c.execute(query).scalar()

    def full(self, against: list[dict]) -> Verification:
        total = self.scalar(select(func.count()).select_from(E).where(self.mine(E)))  # the snapshot starts here
        latest = self.c.execute(select(C.c.tree_size, C.c.root_hash, C.c.note).where(self.mine(C))
                                .order_by(C.c.tree_size.desc()).limit(1)).first()
        checkpoints = self.scalar(select(func.count()).select_from(C).where(self.mine(C)))
        pending = self.pending()
        size = latest.tree_size if latest else 0
        max_seq = self.scalar(select(func.max(E.c.seq)).where(self.mine(E)))
        done = dict(entries=total, sealed=size, pending=pending, checkpoint=size or None, checkpoints=checkpoints,
                    from_size=None, max_seq=max_seq, sealed_through=self.sealed_through(max_seq))
        try:
            self.against(against)
            self.leaves(0, size, RightEdge())
            self.old_chain()
            self.unsealed()
        except Bad as bad:
            return Verification(False, first_bad_seq=bad.seq, reason=bad.reason, checked=self.checked, **done)
        return Verification(True, checked=self.checked, root_hash=latest.root_hash if latest else None,
                            note=latest.note if latest else None, **done)

    def mine(self, table):
        """This log's rows of a trail table."""
        return table.c.tenant_id == self.tenant

    def sealed_through(self, max_seq: int | None) -> int:
        """The highest seq of this log with none of its entries still queued at or below it."""
        queued = [self.scalar(select(func.min(P.c.seq)).where(self.mine(P))),
                  self.scalar(select(func.min(TrailLegacyPending.__table__.c.seq))) if self.default else None]
        return min([max_seq or 0, *(q - 1 for q in queued if q is not None)])

    def pending(self) -> int:
        legacy = self.scalar(select(func.count()).select_from(TrailLegacyPending.__table__)) if self.default else 0
        return self.scalar(select(func.count()).select_from(P).where(self.mine(P))) + legacy

    def checkpoint(self, size: int, root: bytes, note: str) -> None:
        """A checkpoint's note is signed by the trail's key and says the size and root stored."""
        if self.key is None:
            return
        text = self.key.open_note(note)
        if text is None:
            raise Bad(None, f"checkpoint {size} is not signed by the trail's key (its signature does not verify)")
        lines = text.split("\n")
        origin = log_origin(self.key.name, self.tenant)
        if lines[0] != origin:
            raise Bad(None, f"checkpoint {size} is of the log {lines[0]}, not of this one ({origin}): "
                            "another log's checkpoint was put in its place")
        if len(lines) < 3 or lines[1] != str(size) or lines[2] != b64(root):
            raise Bad(None, f"checkpoint {size}: the stored size or root differs from what its signed note says")

    def against(self, exported: list[dict]) -> None:
        wanted = {int(e["tree_size"]): base64.b64decode(e["root_hash"]) for e in exported}
        sizes = sorted(wanted)
        stored = {}
        for i in range(0, len(sizes), 1000):
            stored.update(self.c.execute(select(C.c.tree_size, C.c.root_hash)
                                         .where(self.mine(C), C.c.tree_size.in_(sizes[i:i + 1000]))).all())
        for n in sizes:
            if n not in stored:
                raise Bad(None, f"checkpoint {n} of the exported copy is not in the database "
                                "(deleted, or the tree was rewritten)")
            if stored[n] != wanted[n]:
                raise Bad(None, f"checkpoint {n} differs from the exported copy: the database's "
                                "checkpoints were rewritten")

    def sample(self, size: int, root: bytes, count: int) -> None:
        """A spot check of `count` leaves drawn at random from the verified tree of `size`: each
        against its entry, and its inclusion proof against the verified root. Cheap (two queries
        for the nodes, one for the rows); it finds a rewrite of many old entries at once, and a
        single one sooner or later, between full verifications."""
        if size <= 0 or count <= 0:
            return
        draw = random.SystemRandom()
        indices = sorted(range(size) if size <= count else draw.sample(range(size), count))
        rows = self.c.execute(select(L.c.leaf_index, L.c.seq.label("leaf_seq"), L.c.hash.label("leaf"), E.c.hash_scheme,
                                     *_content_columns(self.c.dialect.name))
                              .outerjoin(E, (E.c.seq == L.c.seq) & self.mine(E))
                              .where(self.mine(L), L.c.leaf_index.in_(indices))).all()
        found = {row[0]: row for row in rows}
        wanted: set[tuple[int, int]] = set()
        for index in indices:
            if index not in found:
                raise Bad(None, f"leaf {index}, verified before, is missing from the tree (spot check)")
            wanted |= merkle.needed(lambda get, i=index: merkle.inclusion_path(i, size, get))
        try:
            nodes = stored_nodes(self.c, wanted, self.tenant)
        except LookupError as missing:
            raise Bad(None, f"the verified tree is incomplete (spot check): {missing}") from None
        for index in indices:  # the entries first: a bad one is named, not a leaf whose path crosses it
            seq, leaf, scheme = found[index][1:4]
            if scheme is None:
                if seq in self.archived:
                    continue
                raise Bad(seq, f"entry {seq} (leaf {index}), verified before, is missing: it was deleted (spot check)")
            if scheme != SCHEME or _fast_leaf(found[index]) != leaf:
                self.entry(seq, index, leaf)
        for index in indices:
            seq, leaf = found[index][1:3]
            path = merkle.inclusion_path(index, size, lambda level, i: nodes[(level, i)])
            if not merkle.verify_inclusion(index, size, leaf, path, root):
                raise Bad(None, f"the tree verified at {size} leaves was rewritten: the inclusion proof of leaf "
                                f"{index} (entry {seq}) no longer leads to its root; a leaf or node on that path "
                                "changed (spot check; a full verification names the entry)")

    def leaves(self, start: int, stop: int, edge: RightEdge) -> None:
        """Leaves start..stop-1 against their entries, and the tree they extend `edge` (the tree
        of `start` leaves) into against every checkpoint of a size in (start, stop]."""
        query = (select(L.c.leaf_index, L.c.seq.label("leaf_seq"), L.c.hash.label("leaf"), E.c.hash_scheme,
                        *_content_columns(self.c.dialect.name))
                 .outerjoin(E, (E.c.seq == L.c.seq) & self.mine(E)).where(self.mine(L)).order_by(L.c.leaf_index))
        signed = self.c.execute(select(C.c.tree_size, C.c.root_hash, C.c.note)
                                .where(self.mine(C), C.c.tree_size > start, C.c.tree_size <= stop)
                                .order_by(C.c.tree_size).execution_options(yield_per=BATCH))
        checkpoints = iter(signed)
        due = next(checkpoints, None)
        previous_size, n, todo = start, start, stop - start
        try:
            for low in range(start, stop, BATCH):
                # A range of leaves per query (not one cursor over all): each is a small join and
                # sort in memory, where one query over a million rows sorts them on disk first.
                batch = self.c.execute(query.where(L.c.leaf_index >= low,
                                                   L.c.leaf_index < min(stop, low + BATCH))).all()
                hashes = [_fast_leaf(row) if row[3] == SCHEME else None for row in batch]
                for row, fast in zip(batch, hashes):
                    index, seq, leaf, scheme = row[:4]
                    if index != n:
                        raise Bad(None, f"leaf {n} is missing from the tree (the next stored leaf is {index})")
                    if scheme is None and seq not in self.archived:
                        raise Bad(seq, f"entry {seq} (leaf {index}) is missing from this log: it was deleted, "
                                       "or moved to another tenant")
                    if scheme is not None and fast != leaf:
                        self.entry(seq, index, leaf)
                    edge.push(leaf)
                    n += 1
                    if due is not None and due.tree_size == n:
                        due = self._at_checkpoint(due, edge, previous_size, checkpoints)
                        previous_size = n
                self.checked = n - start
                if self.progress is not None and self.checked % PROGRESS_EVERY < len(batch):
                    self.progress(self.checked, todo)
        finally:
            signed.close()
        if n != stop:
            raise Bad(None, f"the tree has {n} leaves but checkpoint {stop} says {stop}: "
                            "leaves were removed from the end")
        if self.progress is not None:
            self.progress(self.checked, todo)

    def _at_checkpoint(self, due, edge: RightEdge, previous_size: int, checkpoints):
        """The tree has reached a checkpoint's size: its signature, and its root; the next one."""
        n = due.tree_size
        self.checkpoint(n, due.root_hash, due.note)
        if edge.root() != due.root_hash:
            raise Bad(None, f"the tree's first {n} leaves no longer hash to checkpoint {n}'s signed "
                            f"root: an entry among leaves {previous_size}..{n - 1} was rewritten "
                            "together with its leaf, inserted or removed")
        return next(checkpoints, None)

    def entry(self, seq: int, index: int, leaf: bytes) -> None:
        """An entry whose fast hash is not its leaf: read and hashed the reference way, then named."""
        row = self.c.execute(select(E).where(E.c.seq == seq)).first()
        if row.hash_scheme not in (1, 2, SCHEME):
            raise Bad(seq, f"entry {seq} names an unknown hash scheme")
        recomputed = entry_hash({name: getattr(row, name) for name in (*HASHED, "hash_scheme", "tenant_id")})
        if row.hash_scheme != SCHEME and recomputed != row.hash:
            raise Bad(seq, f"entry {seq} (leaf {index}) was altered after it was written")
        if bytes.fromhex(recomputed) != leaf:
            other = self.scalar(select(L.c.leaf_index).where(self.mine(L), L.c.hash == bytes.fromhex(recomputed)))
            if other is not None:
                raise Bad(seq, f"entry {seq} is at leaf {index} but is the entry sealed at "
                               f"leaf {other}: entries were reordered")
            raise Bad(seq, f"entry {seq} was altered after it was written: its content no "
                           f"longer hashes to its leaf ({index})")

    def old_chain(self) -> None:
        """Entries written before the tree keep their chain: links, and the frozen head."""
        if not self.default:
            return
        prev_hash, expected_seq, last = GENESIS, None, None
        rows = self.c.execute(select(E.c.seq, E.c.prev_hash, E.c.hash).where(E.c.hash_scheme < SCHEME)
                              .order_by(E.c.seq).execution_options(yield_per=BATCH))
        try:
            for seq, prev, h in rows:
                if expected_seq is not None and seq != expected_seq:
                    raise Bad(expected_seq, f"entry {expected_seq} is missing (the next stored entry is {seq})")
                if prev != prev_hash:
                    raise Bad(seq, f"entry {seq} does not follow entry {seq - 1} (reordered, or an earlier "
                                   "entry was replaced)")
                prev_hash, expected_seq, last = h, seq + 1, seq
        finally:
            rows.close()
        head = self.c.execute(select(TrailHead.seq, TrailHead.hash).where(TrailHead.id == 1)).first()
        if head is not None and head.seq and (head.seq, head.hash) != (last, prev_hash):
            raise Bad(head.seq, f"the hash chain of the entries written before the tree ends at entry {last} "
                                f"but its head says {head.seq}: entries were removed from its end")

    def unsealed(self, after_seq: int | None = None) -> None:
        """Every entry is a leaf or queued; queued ones are as their writers signed them. With
        `after_seq`, only entries after it are looked for among the strays (an incremental pass:
        an entry slipped in among the old ones is a full verification's to find)."""
        self.refusals()
        stray = select(E.c.seq).where(
            self.mine(E),
            ~select(L.c.seq).where(self.mine(L), L.c.seq == E.c.seq).exists(),
            ~select(P.c.seq).where(self.mine(P), P.c.seq == E.c.seq).exists(),
            ~select(TrailLegacyPending.seq).where(TrailLegacyPending.seq == E.c.seq).exists())
        if after_seq is not None:
            stray = stray.where(E.c.seq > after_seq)
        stray = self.scalar(stray.order_by(E.c.seq).limit(1))
        if stray is not None:
            raise Bad(stray, f"entry {stray} is neither in the tree nor queued for it: it was inserted "
                             "behind the service's back")
        # An entry still queued is checked against the hash its writer queued and signed in its
        # receipt: the sealer will refuse a row without that signature, so name it now.
        for entry in self.c.execute(select(E, P.c.hash.label("queued"), P.c.signature)
                                    .join(P, (P.c.seq == E.c.seq) & self.mine(P)).where(self.mine(E))
                                    .order_by(E.c.seq)).all():  # the queue is short
            queued, signature = entry.queued, entry.signature
            if queued is None or signature is None or (self.key is not None and not self.key.verify(
                    self.key.receipt_text(decision_id=entry.entry_id, entry_hash=queued.hex(),
                                          recorded_at=receipt_time(entry.recorded_at)), signature)):
                raise Bad(entry.seq, f"entry {entry.seq} is queued for sealing without its writer's signature "
                                     "over its hash: queued again behind the service's back (the sealer "
                                     "will refuse it)")
            if bytes.fromhex(hash_of(entry)) != queued:
                raise Bad(entry.seq, f"entry {entry.seq} was altered after it was written (not sealed yet)")
        self.legacy_queue()

    def refusals(self) -> None:
        """An entry the sealer refused was queued by someone without the key: the trail was tampered with."""
        refusal = self.c.execute(select(E.c.seq, E.c.body).where(self.mine(E), E.c.kind == SEAL_REFUSED)
                                 .order_by(E.c.seq).limit(1)).first()
        if refusal is not None:
            body = refusal.body or {}
            seq = body.get("refused_seq")
            raise Bad(seq, f"entry {seq} was queued for sealing again and the sealer refused it "
                           f"({body.get('reason')}; refusal recorded as entry {refusal.seq}): the database "
                           "was written behind the service's back")

    def legacy_queue(self) -> None:
        """Entries queued before writers signed wait for `trail seal --legacy-unsigned`, once."""
        if not self.default:
            return
        legacy = TrailLegacyPending.__table__
        rows = self.c.execute(select(E, legacy.c.hash.label("queued")).join(legacy, legacy.c.seq == E.c.seq)
                              .order_by(E.c.seq)).all()
        if not rows:
            return
        done = self.scalar(select(E.c.seq).where(E.c.kind == LEGACY_SEALED).limit(1))
        if done is not None:
            raise Bad(rows[0].seq, f"entry {rows[0].seq} is in the queue of entries written before "
                                   f"signed queueing, which was sealed once already (entry {done}): "
                                   "queued again behind the service's back")
        for entry in rows:
            if entry.queued is not None and bytes.fromhex(hash_of(entry)) != entry.queued:
                raise Bad(entry.seq, f"entry {entry.seq} was altered after it was written (not sealed yet)")

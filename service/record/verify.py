"""Verifying the trail: every signed checkpoint, every sealed entry against its leaf, the tree
against every checkpoint (and an exported copy of them), the old hash chain, and that every other
entry is queued (pending). Names the first thing that does not hold.

At a million entries the ORM version of this spent 97% of its time in Python: ORM objects, the
driver decoding each body's JSON, and the canonical re-encoding. So it streams core rows (a
server-side cursor on PostgreSQL: yield_per), reads `body` and `rule_ids` as the text they are
stored as, and re-encodes the content with orjson (sorted keys, compact, UTF-8: the canonical form
of service.record.trail). orjson and the standard json module differ on a few values (a float's
exponent, an integer past 64 bits): an entry whose fast hash is not its leaf is hashed again the
reference way (trail.entry_hash) before it is called altered, so the fast path can never raise a
false alarm nor hide an edit. Memory stays bounded: a batch of rows and the tree's right edge
(log2 n hashes); checkpoints are streamed beside the leaves.

`verify_chain` is the full verification; service.record.verification resumes from the last one
that held and walks only the leaves after it (Scan.leaves from a stored right edge).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service.record import merkle
from service.record.models import (TrailCheckpoint, TrailEntry, TrailHead, TrailLeaf, TrailLegacyPending,
                                   TrailPending)
from service.record.trail import (CONTENT, GENESIS, HASHED, LEGACY_SEALED, SCHEME, SEAL_REFUSED, _canonical, b64,
                                  entry_hash, hash_of, receipt_time)

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
                 progress: Progress | None = None) -> Verification:
    """The full verification, in one consistent snapshot of the database."""
    connection = session.connection()
    snapshot(connection)
    return Scan(connection, key, progress).full(against or [])


class RightEdge:
    """The complete subtrees on the tree's right edge, (leaves, hash) from left to right: enough
    to append leaves and compute every later root, in log2(n) hashes of memory."""

    def __init__(self, stack: list[tuple[int, bytes]] | None = None):
        self.stack = list(stack or [])
        self.size = sum(n for n, _ in self.stack)

    @classmethod
    def of_tree(cls, size: int, get: merkle.Getter) -> "RightEdge":
        """The edge of the stored tree of `size` leaves, read through `get` (stored nodes)."""
        stack, start = [], 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                stack.append((1 << level, get(level, start >> level)))
                start += 1 << level
        return cls(stack)

    @staticmethod
    def nodes(size: int) -> set[tuple[int, int]]:
        wanted: set[tuple[int, int]] = set()
        RightEdge.of_tree(size, lambda level, index: wanted.add((level, index)) or b"")
        return wanted

    def push(self, leaf: bytes) -> None:
        stack = self.stack
        stack.append((1, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            right, left = stack.pop(), stack.pop()
            stack.append((left[0] * 2, merkle.node_hash(left[1], right[1])))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return merkle.root(0, lambda *_: b"")
        root = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            root = merkle.node_hash(h, root)
        return root


def _fast_leaf(row) -> bytes | None:
    """The leaf hash of a scheme-3 entry's content, encoded by orjson; None if it cannot."""
    try:
        content = list(row[-len(CONTENT):])
        content[_AT["recorded_at"]] = _canonical(content[_AT["recorded_at"]])
        content[_AT["as_of"]] = _canonical(content[_AT["as_of"]])
        for name in _AS_TEXT:
            content[_AT[name]] = orjson.loads(content[_AT[name]])
        return hashlib.sha256(b"\x00" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).digest()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, ValueError):
        return None


def _reference_hash(row) -> str:
    values = {name: getattr(row, name) for name in (*HASHED, "hash_scheme")}
    for name in _AS_TEXT:
        values[name] = json.loads(values[name]) if values[name] is not None else None
    return entry_hash(values)


class Scan:
    """Checks over one connection, inside the caller's (snapshot) transaction."""

    def __init__(self, connection: Connection, key, progress: Progress | None = None):
        self.c, self.key, self.progress = connection, key, progress
        self.checked = 0

    def scalar(self, query):
        return self.c.execute(query).scalar()

    def full(self, against: list[dict]) -> Verification:
        total = self.scalar(select(func.count()).select_from(E))  # the snapshot starts here
        latest = self.c.execute(select(C.c.tree_size, C.c.root_hash, C.c.note)
                                .order_by(C.c.tree_size.desc()).limit(1)).first()
        checkpoints = self.scalar(select(func.count()).select_from(C))
        pending = self.pending()
        size = latest.tree_size if latest else 0
        max_seq = self.scalar(select(func.max(E.c.seq)))
        done = dict(entries=total, sealed=size, pending=pending, checkpoint=size or None, checkpoints=checkpoints,
                    from_size=None, max_seq=max_seq)
        try:
            self.against(against)
            self.leaves(0, size, RightEdge())
            self.old_chain()
            self.unsealed()
        except Bad as bad:
            return Verification(False, first_bad_seq=bad.seq, reason=bad.reason, checked=self.checked, **done)
        return Verification(True, checked=self.checked, root_hash=latest.root_hash if latest else None,
                            note=latest.note if latest else None, **done)

    def pending(self) -> int:
        return (self.scalar(select(func.count()).select_from(P))
                + self.scalar(select(func.count()).select_from(TrailLegacyPending.__table__)))

    def checkpoint(self, size: int, root: bytes, note: str) -> None:
        """A checkpoint's note is signed by the trail's key and says the size and root stored."""
        if self.key is None:
            return
        text = self.key.open_note(note)
        if text is None:
            raise Bad(None, f"checkpoint {size} is not signed by the trail's key (its signature does not verify)")
        lines = text.split("\n")
        if len(lines) < 3 or lines[1] != str(size) or lines[2] != b64(root):
            raise Bad(None, f"checkpoint {size}: the stored size or root differs from what its signed note says")

    def against(self, exported: list[dict]) -> None:
        wanted = {int(e["tree_size"]): base64.b64decode(e["root_hash"]) for e in exported}
        sizes = sorted(wanted)
        stored = {}
        for i in range(0, len(sizes), 1000):
            stored.update(self.c.execute(select(C.c.tree_size, C.c.root_hash)
                                         .where(C.c.tree_size.in_(sizes[i:i + 1000]))).all())
        for n in sizes:
            if n not in stored:
                raise Bad(None, f"checkpoint {n} of the exported copy is not in the database "
                                "(deleted, or the tree was rewritten)")
            if stored[n] != wanted[n]:
                raise Bad(None, f"checkpoint {n} differs from the exported copy: the database's "
                                "checkpoints were rewritten")

    def leaves(self, start: int, stop: int, edge: RightEdge) -> None:
        """Leaves start..stop-1 against their entries, and the tree they extend `edge` (the tree
        of `start` leaves) into against every checkpoint of a size in (start, stop]."""
        content = [cast(E.c[n], Text).label(n) if n in _AS_TEXT else E.c[n] for n in CONTENT]
        rows = self.c.execute(
            select(L.c.leaf_index, L.c.seq.label("leaf_seq"), L.c.hash.label("leaf"), E.c.seq, E.c.hash_scheme,
                   E.c.hash, E.c.prev_hash, *content)
            .outerjoin(E, E.c.seq == L.c.seq).where(L.c.leaf_index >= start, L.c.leaf_index < stop)
            .order_by(L.c.leaf_index).execution_options(yield_per=BATCH))
        signed = self.c.execute(select(C.c.tree_size, C.c.root_hash, C.c.note)
                                .where(C.c.tree_size > start, C.c.tree_size <= stop)
                                .order_by(C.c.tree_size).execution_options(yield_per=BATCH))
        pending_checkpoints = iter(signed)
        due = next(pending_checkpoints, None)
        previous_size, n, todo = start, start, stop - start
        try:
            for index, seq, leaf, *entry in rows:
                if index != n:
                    raise Bad(None, f"leaf {n} is missing from the tree (the next stored leaf is {index})")
                if entry[0] is None:
                    raise Bad(seq, f"entry {seq} (leaf {index}) is missing: it was deleted")
                if entry[1] != SCHEME or _fast_leaf(entry) != leaf:
                    self.entry(_Row(entry), index, leaf)
                edge.push(leaf)
                n += 1
                self.checked += 1
                if self.progress is not None and self.checked % PROGRESS_EVERY == 0:
                    self.progress(self.checked, todo)
                if due is not None and due.tree_size == n:
                    self.checkpoint(due.tree_size, due.root_hash, due.note)
                    if edge.root() != due.root_hash:
                        raise Bad(None, f"the tree's first {n} leaves no longer hash to checkpoint {n}'s signed "
                                        f"root: an entry among leaves {previous_size}..{n - 1} was rewritten "
                                        "together with its leaf, inserted or removed")
                    previous_size, due = n, next(pending_checkpoints, None)
        finally:
            rows.close()
            signed.close()
        if n != stop:
            raise Bad(None, f"the tree has {n} leaves but checkpoint {stop} says {stop}: "
                            "leaves were removed from the end")
        if self.progress is not None:
            self.progress(self.checked, todo)

    def entry(self, row, index: int, leaf: bytes) -> None:
        """An entry whose fast hash is not its leaf: hashed the reference way, then named."""
        if row.hash_scheme not in (1, 2, SCHEME):
            raise Bad(row.seq, f"entry {row.seq} names an unknown hash scheme")
        recomputed = _reference_hash(row)
        if row.hash_scheme != SCHEME and recomputed != row.hash:
            raise Bad(row.seq, f"entry {row.seq} (leaf {index}) was altered after it was written")
        if bytes.fromhex(recomputed) != leaf:
            other = self.scalar(select(L.c.leaf_index).where(L.c.hash == bytes.fromhex(recomputed)))
            if other is not None:
                raise Bad(row.seq, f"entry {row.seq} is at leaf {index} but is the entry sealed at "
                                   f"leaf {other}: entries were reordered")
            raise Bad(row.seq, f"entry {row.seq} was altered after it was written: its content no "
                               f"longer hashes to its leaf ({index})")

    def old_chain(self) -> None:
        """Entries written before the tree keep their chain: links, and the frozen head."""
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
            ~select(L.c.seq).where(L.c.seq == E.c.seq).exists(),
            ~select(P.c.seq).where(P.c.seq == E.c.seq).exists(),
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
                                    .join(P, P.c.seq == E.c.seq).order_by(E.c.seq)).all():  # the queue is short
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
        refusal = self.c.execute(select(E.c.seq, E.c.body).where(E.c.kind == SEAL_REFUSED)
                                 .order_by(E.c.seq).limit(1)).first()
        if refusal is not None:
            body = refusal.body or {}
            seq = body.get("refused_seq")
            raise Bad(seq, f"entry {seq} was queued for sealing again and the sealer refused it "
                           f"({body.get('reason')}; refusal recorded as entry {refusal.seq}): the database "
                           "was written behind the service's back")

    def legacy_queue(self) -> None:
        """Entries queued before writers signed wait for `trail seal --legacy-unsigned`, once."""
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


class _Row:
    """An entry's columns from a leaf row, by name (the slow path only)."""
    _NAMES = ("seq", "hash_scheme", "hash", "prev_hash", *CONTENT)

    def __init__(self, values):
        self.__dict__.update(zip(self._NAMES, values))

"""The trail's Merkle tree, hashed as RFC 6962 / RFC 9162 §2.1 define it.

leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right); the tree over n
leaves splits at the largest power of two below n. Proofs are built from stored nodes: `get(level,
index)` returns the hash of the complete subtree of 2**level leaves that starts at leaf
index * 2**level. Any subtree the RFC's recursion asks for is one stored node or a fold of at
most log2(n) of them, so a proof costs O(log n) lookups, never a pass over the leaves.

Why not pymerkle: it computes subtree roots from the leaves with a per-process cache. Our
proofs are served by any worker on any host from the database, and one sealer appends, so the
interior nodes are stored once and read by everyone. tests/test_merkle.py checks these roots
and proofs against pymerkle's.
"""
from __future__ import annotations

import hashlib
from typing import Callable

Getter = Callable[[int, int], bytes]
# Interior nodes below this level are not stored: each is a fold of at most 2**(STORED_FROM - 1)
# leaves, read in the same query (most of the tree's nodes are low: 7/8 of them sit below level 3).
STORED_FROM = 3


def from_leaves(level: int, index: int, leaf: Getter) -> bytes:
    """A node below STORED_FROM, folded from its leaves."""
    if level == 0:
        return leaf(0, index)
    return node_hash(from_leaves(level - 1, 2 * index, leaf), from_leaves(level - 1, 2 * index + 1, leaf))


def leaves_under(level: int, index: int) -> range:
    return range(index << level, (index + 1) << level)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than size (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_hash(start: int, end: int, get: Getter) -> bytes:
    """MTH(D[start:end]) where start is aligned to the largest power of two below end - start."""
    size = end - start
    if size & (size - 1) == 0:  # complete: one stored node
        level = size.bit_length() - 1
        return get(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, get), subtree_hash(start + k, end, get))


def root(size: int, get: Getter) -> bytes:
    if size == 0:
        return hashlib.sha256(b"").digest()
    return subtree_hash(0, size, get)


def inclusion_path(index: int, size: int, get: Getter) -> list[bytes]:
    """PATH(index, D[0:size]), leaf to root (RFC 6962 §2.1.1)."""
    def path(m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if m < start + k:
            return path(m, start, start + k) + [subtree_hash(start + k, end, get)]
        return path(m, start + k, end) + [subtree_hash(start, start + k, get)]

    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    return path(index, 0, size)


def consistency_path(old_size: int, new_size: int, get: Getter) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 6962 §2.1.2)."""
    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        size = end - start
        if m == size:
            return [] if whole else [subtree_hash(start, end, get)]
        k = _split(size)
        if m <= k:
            return subproof(m, start, start + k, whole) + [subtree_hash(start + k, end, get)]
        return subproof(m - k, start + k, end, False) + [subtree_hash(start, start + k, get)]

    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    return subproof(old_size, 0, new_size, True)


def needed(build: Callable[[Getter], object]) -> set[tuple[int, int]]:
    """The stored nodes a proof or root will read: the recursion depends on sizes only, so a
    dry run with placeholder hashes names them, and the caller fetches them in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return b"\x00" * 32
    build(record)
    return wanted


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size == new_size:
        return not path and old_root == new_root
    if not 0 < old_size < new_size or not path:
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root] + path
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class Frontier:
    """The nodes an append needs, as it builds them: every new complete node is kept here to be
    stored, and the older ones it is folded with are read through `get` (the right edge only)."""

    def __init__(self, size: int, get: Getter):
        self.size, self._get, self.new = size, get, {}

    def node(self, level: int, index: int) -> bytes:
        return self.new.get((level, index)) or self._get(level, index)

    def append(self, leaf: bytes) -> None:
        index = self.size
        self.new[(0, index)] = leaf
        level, value = 0, leaf
        while index & 1:  # the node just completed is a right child: its parent is complete too
            value = node_hash(self.node(level, index - 1), value)
            level, index = level + 1, index >> 1
            self.new[(level, index)] = value
        self.size += 1

    def root(self) -> bytes:
        return root(self.size, self.node)


class RightEdge:
    """The complete subtrees on the tree's right edge, (leaves, hash) from left to right: enough
    to append leaves and compute every later root, in log2(n) hashes of memory."""

    def __init__(self, stack: list[tuple[int, bytes]] | None = None):
        self.stack = list(stack or [])
        self.size = sum(n for n, _ in self.stack)

    @classmethod
    def of_tree(cls, size: int, get: Getter) -> "RightEdge":
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
            stack.append((left[0] * 2, node_hash(left[1], right[1])))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return root(0, lambda *_: b"")
        top = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            top = node_hash(h, top)
        return top

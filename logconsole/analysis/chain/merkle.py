"""RFC 9162 (RFC 6962) Merkle tree hashing.

* empty tree: SHA-256 of the empty string;
* leaf: ``SHA-256(0x00 || d)``; node: ``SHA-256(0x01 || left || right)``;
* a tree of *n* leaves splits at the largest power of two smaller than *n*.

Bottom-up pairing that carries an unpaired last node up unchanged gives the same
head, and so does folding a "compact range" (the stack of perfect subtree roots)
from the right - which is what lets us compute the head of every prefix of a
stream of leaves in one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

BLOCK = 1024  # leaves per stored subtree (a power of two, so blocks are RFC 9162 subtrees)
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def root_of(hashes: list[bytes]) -> bytes:
    """Head of the tree whose level-0 nodes are *hashes* (leaf hashes, or aligned subtree roots)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def mth_recursive(leaves: list[bytes]) -> bytes:
    """The RFC text's definition, for tests: MTH over raw leaf *data*."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth_recursive(leaves[:k]), mth_recursive(leaves[k:]))


class CompactRange:
    """Streaming tree: append leaf hashes, ask for the head of everything so far."""

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
        self.size = 0

    def append(self, h: bytes) -> None:
        """Append one leaf hash."""
        stack = self.stack
        height = 0
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            h = node_hash(left, h)
            height += 1
        stack.append((height, h))
        self.size += 1

    def extend(self, hashes: Iterable[bytes]) -> None:
        for h in hashes:
            self.append(h)

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            h = node_hash(left, h)
        return h

"""Deterministic selection: which accepted records are published and which replay records join them.

Each candidate gets a key, `blake2b(seed, kind, where it was)`, independent of the order in
which objects are listed or read; the `n` smallest keys win. The published order is the key
order of generated and replay records together, so replay is spread evenly through the shards.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Sequence
from typing import Any

Candidate = tuple[bytes, dict[str, Any]]


def sort_key(seed: int, *parts: object) -> bytes:
    text = "\x1f".join([str(seed), *(str(p) for p in parts)])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def smallest(candidates: Iterable[Candidate], n: int) -> list[Candidate]:
    """The `n` candidates with the smallest keys, in key order (memory: `n` records)."""
    if n <= 0:
        return []
    return heapq.nsmallest(n, candidates, key=lambda c: c[0])


def smallest_per_group(candidates: Iterable[tuple[int, Candidate]], limits: Sequence[int]) -> list[list[Candidate]]:
    """`smallest` of each group in one pass: for candidates tagged with their group (an index into `limits`),
    the `limits[g]` smallest keys of group g, in key order (memory: sum(limits) records)."""
    heaps: list[list[tuple[bytes, bytes, dict[str, Any]]]] = [[] for _ in limits]
    for group, (key, record) in candidates:
        heap, limit = heaps[group], limits[group]
        if limit <= 0:
            continue
        inverted = bytes(255 - b for b in key)  # heapq is a min-heap: the root is the largest key kept
        if len(heap) < limit:
            heapq.heappush(heap, (inverted, key, record))
        elif inverted > heap[0][0]:
            heapq.heapreplace(heap, (inverted, key, record))
    return [[(key, record) for _, key, record in sorted(heap, reverse=True)] for heap in heaps]


def interleave(*groups: list[Candidate]) -> list[dict[str, Any]]:
    """All candidates' records in key order."""
    return [record for _, record in heapq.merge(*groups, key=lambda c: c[0])]

"""Deterministic selection: which accepted records are published and which replay records join them.

Each candidate gets a key, `blake2b(seed, kind, where it was)`, independent of the order in
which objects are listed or read; the `n` smallest keys win. The published order is the key
order of generated and replay records together, so replay is spread evenly through the shards.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable
from typing import Any

Candidate = tuple[bytes, dict[str, Any]]


def sort_key(seed: int, *parts: object) -> bytes:
    text = "\x1f".join([str(seed), *(str(p) for p in parts)])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def replay_count(generated: int, ratio: float) -> int:
    """Replay records so that replay / (generated + replay) is `ratio` within one record."""
    if ratio <= 0.0 or generated <= 0:
        return 0
    return math.floor(generated * ratio / (1.0 - ratio) + 0.5)


def smallest(candidates: Iterable[Candidate], n: int) -> list[Candidate]:
    """The `n` candidates with the smallest keys, in key order (memory: `n` records)."""
    if n <= 0:
        return []
    return heapq.nsmallest(n, candidates, key=lambda c: c[0])


def interleave(*groups: list[Candidate]) -> list[dict[str, Any]]:
    """All candidates' records in key order."""
    return [record for _, record in heapq.merge(*groups, key=lambda c: c[0])]

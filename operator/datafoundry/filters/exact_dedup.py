"""Exact deduplication on normalised text, within a shard (streaming) and across shards."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, text_of
from datafoundry.filters.text import normalize

HashArray = npt.NDArray[np.uint64]


def text_hash(text: str, bits: Literal[64, 128] = 64, *, normalized: bool = True) -> int:
    """BLAKE2b of the normalised text (NFKC, casefold, no punctuation, single spaces), or of the text
    as it is with ``normalized=False``."""
    key = normalize(text) if normalized else text
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=bits // 8).digest()
    return int.from_bytes(digest, "little")


def hashes_to_array(hashes: Iterable[int], bits: Literal[64, 128] = 64) -> HashArray:
    """Hashes as a (n, bits/64) uint64 array (little-endian words), e.g. to ``np.save`` to S3."""
    words = bits // 64
    mask = (1 << 64) - 1
    flat = [(h >> (64 * w)) & mask for h in hashes for w in range(words)]
    return np.array(flat, dtype=np.uint64).reshape(-1, words)


def array_to_hashes(array: npt.NDArray[np.uint64]) -> list[int]:
    rows = np.asarray(array, dtype=np.uint64).reshape(len(array), -1).tolist()
    return [sum(int(word) << (64 * i) for i, word in enumerate(row)) for row in rows]


class ExactDedupFilter(Filter):
    """Drops a record whose normalised text was already accepted (reason ``duplicate``).

    Hashes enter the seen set only when the record passes the whole chain (``observe``), so a
    copy dropped later by another filter does not shadow a later copy. ``accepted_hashes()``
    lists the hashes of the accepted records in output order, for the cross-shard pass
    (:func:`cross_shard_duplicates`); ``merge`` seeds the seen set with other shards' hashes.
    """

    type = "exactDedup"

    def __init__(
        self,
        *,
        fields: Sequence[str] | None = None,
        hash_bits: Literal[64, 128] = 64,
        normalize: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.normalize = normalize
        if hash_bits not in (64, 128):
            raise ValueError(f"hash_bits must be 64 or 128, got {hash_bits}")
        self.fields = fields
        self.hash_bits: Literal[64, 128] = hash_bits
        self.seen: set[int] = set()
        self._accepted: list[int] = []
        self._pending: int | None = None

    def _hash(self, record: Record) -> int:
        return text_hash(text_of(record, self.fields), self.hash_bits, normalized=self.normalize)

    def apply(self, record: Record) -> FilterResult:
        h = self._hash(record)
        if h in self.seen:
            self._pending = None
            return FilterResult.drop("duplicate")
        self._pending = h
        return KEEP

    def observe(self, record: Record) -> None:
        h = self._pending
        if h is None:  # used outside a chain: hash the record as it left
            h = self._hash(record)
        self._pending = None
        self.seen.add(h)
        self._accepted.append(h)

    def merge(self, hashes: Iterable[int] | npt.NDArray[np.uint64]) -> None:
        """Treat these hashes (ints, or an array from :func:`hashes_to_array`) as already seen."""
        if isinstance(hashes, np.ndarray):
            hashes = array_to_hashes(hashes)
        self.seen.update(hashes)

    def accepted_hashes(self) -> HashArray:
        return hashes_to_array(self._accepted, self.hash_bits)

    def export(self) -> HashArray:
        """The whole seen set, sorted."""
        return hashes_to_array(sorted(self.seen), self.hash_bits)


def cross_shard_duplicates(shards: Mapping[int, npt.NDArray[np.uint64]]) -> dict[int, npt.NDArray[np.int64]]:
    """Indices to drop per shard so that each hash survives once, at its lowest (shard, index).

    ``shards`` maps a shard number to its :meth:`ExactDedupFilter.accepted_hashes` array.
    """
    order = sorted(shards)
    arrays = [np.asarray(shards[s], dtype=np.uint64) for s in order]
    # 64-bit hashes are one word per record, 128-bit two; an empty shard has no rows to say which.
    widths = {a.shape[1] if a.ndim == 2 else 1 for a in arrays if len(a)}
    width = widths.pop() if widths else 1
    arrays = [a.reshape(len(a), width) for a in arrays]
    result: dict[int, npt.NDArray[np.int64]] = {s: np.empty(0, dtype=np.int64) for s in order}
    if not arrays or sum(len(a) for a in arrays) == 0:
        return result
    hashes = np.concatenate(arrays)
    shard_of = np.repeat(np.arange(len(order)), [len(a) for a in arrays])
    index_of = np.concatenate([np.arange(len(a), dtype=np.int64) for a in arrays])
    gid = np.arange(len(hashes))  # ascending in (shard, index)
    perm = np.lexsort((gid, *(hashes[:, w] for w in reversed(range(hashes.shape[1])))))
    sorted_hashes = hashes[perm]
    repeat = np.zeros(len(perm), dtype=bool)
    repeat[1:] = np.all(sorted_hashes[1:] == sorted_hashes[:-1], axis=1)
    dropped = perm[repeat]
    for pos, shard in enumerate(order):
        mine = dropped[shard_of[dropped] == pos]
        result[shard] = np.sort(index_of[mine])
    return result

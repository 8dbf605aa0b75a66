"""MinHash near-duplicate detection with LSH banding, vectorised over batches of records.

Per shard: :class:`MinHasher` turns texts into signatures (``num_perm`` uint32 minima) and band
keys (one uint64 per band); :class:`MinHashFilter` collects them for the records a chain accepts.
Globally: :func:`cluster_duplicates` unites records (``(shard, index)``) that share a band key and
keeps the lowest ``(shard, index)`` of each cluster.

How a batch is hashed, without a Python call per word or shingle:
1. each text is normalised (NFKC, casefold, punctuation to spaces, CJK characters split) in
   Python; the batch is joined with single spaces and encoded once;
2. word hashes: a polynomial hash of each word's bytes from one prefix sum over the whole byte
   array (mod 2**64: ``sum(b_k * P**k)`` rebased by ``P**-start``), finalised with SplitMix64;
3. shingle hashes: word ``n``-grams combined as ``sum(h_{j+i} * R_i)``, finalised again;
   a text with fewer than ``n`` words is one shingle;
4. permutations ``pi_k(x) = (a_k * x + b_k) mod 2**64`` (a_k odd, so each is a bijection) on
   cache-sized blocks of shingles, min per record with ``np.minimum.reduceat``; the signature keeps
   the top 32 bits of each minimum.
Signatures and band keys are plain numpy arrays (``.npy`` bytes via :func:`to_npy`).
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, require_positive, text_of

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

_MASK64 = (1 << 64) - 1
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NON_WORD_RE = re.compile(r"[^\w\s]|_")
_SPLIT_SCRIPTS_RE = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EMPTY32 = np.uint32(0xFFFFFFFF)
_BLOCK = 2048  # shingles per permutation block: 2048 x 128 x 8 bytes stays in L2


def _mix(x: U64) -> U64:
    """SplitMix64 finaliser, in place on a fresh array."""
    x ^= x >> np.uint64(30)
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


_ASCII_TO_SPACE = bytes(c if (48 <= c <= 57 or 97 <= c <= 122 or 65 <= c <= 90) else 32 for c in range(256))


def shingle_words(text: str) -> bytes:
    """UTF-8 words separated by runs of spaces (byte 32 is the only separator): NFKC, casefold,
    punctuation and symbols dropped, each CJK/Thai character a word of its own."""
    if text.isascii():  # fast path: bytes.translate instead of a regex over str
        return text.lower().encode("ascii").translate(_ASCII_TO_SPACE)
    text = _NON_WORD_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    text = _SPLIT_SCRIPTS_RE.sub(r" \g<0> ", text)
    return " ".join(text.split()).encode("utf-8")


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5) -> int:
    """Bands ``b`` (rows ``num_perm // b``) minimising weighted false positive + negative areas."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be within (0, 1), got {threshold}")
    s = np.linspace(0.0, 1.0, 1001)
    below, above = s <= threshold, s >= threshold
    best, best_err = 1, math.inf
    for b in range(1, num_perm + 1):
        r = num_perm // b
        p = 1.0 - (1.0 - s**r) ** b
        fp = float(np.trapezoid(p[below], s[below]))
        fn = float(np.trapezoid(1.0 - p[above], s[above]))
        err = fp_weight * fp + (1.0 - fp_weight) * fn
        if err < best_err - 1e-12:
            best, best_err = b, err
    return best


class MinHasher:
    """Signatures and LSH band keys for batches of texts. Same parameters -> same hashes anywhere."""

    def __init__(
        self,
        *,
        ngram: int = 5,
        num_perm: int = 128,
        bands: int | None = None,
        threshold: float = 0.7,
        seed: int = 1,
        method: Literal["oph", "permutations"] = "oph",
    ) -> None:
        if method not in ("oph", "permutations"):
            raise ValueError(f"method must be 'oph' or 'permutations', got {method!r}")
        require_positive(ngram=ngram, num_perm=num_perm)
        bands = optimal_bands(threshold, num_perm) if bands is None else bands
        if not 1 <= bands <= num_perm:
            raise ValueError(f"bands must be within [1, num_perm={num_perm}], got {bands}")
        self.ngram = ngram
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        self.threshold = threshold
        self.seed = seed
        self.method = method
        rng = np.random.default_rng(seed)
        hi = np.iinfo(np.uint64).max
        self._poly = int(rng.integers(1, hi, dtype=np.uint64, endpoint=True)) | 1
        self._ngram_mult = rng.integers(1, hi, size=ngram, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self._a = rng.integers(1, hi, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self._b = rng.integers(0, hi, size=num_perm, dtype=np.uint64, endpoint=True)
        self._band_mult = rng.integers(1, hi, size=self.rows, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self._probes = rng.integers(0, num_perm, size=(8 * num_perm, num_perm), dtype=np.int64)
        self._pow: U64 = np.ones(1, dtype=np.uint64)
        self._inv_pow: U64 = np.ones(1, dtype=np.uint64)

    # -- hashing ---------------------------------------------------------------------------------

    def _powers(self, n: int) -> tuple[U64, U64]:
        if len(self._pow) < n:
            size = max(n, 2 * len(self._pow))
            base = np.full(size, self._poly, dtype=np.uint64)
            base[0] = 1
            inv = np.full(size, pow(self._poly, -1, 1 << 64), dtype=np.uint64)
            inv[0] = 1
            self._pow = np.cumprod(base, dtype=np.uint64)
            self._inv_pow = np.cumprod(inv, dtype=np.uint64)
        return self._pow[:n], self._inv_pow[:n]

    def _words(self, parts: list[bytes]) -> tuple[U64, I64]:
        """Hash of every word of the batch, in order, and each part's word count."""
        b = np.frombuffer(b" ".join(parts), dtype=np.uint8)
        n = len(b)
        is_word = b != 32
        edge = np.empty(n + 1, dtype=bool)
        edge[0] = is_word[0] if n else False
        edge[n] = is_word[-1] if n else False
        np.not_equal(is_word[1:], is_word[:-1], out=edge[1:n])
        bounds = np.flatnonzero(edge)
        starts, ends = bounds[0::2], bounds[1::2]
        part_bounds = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(p) + 1 for p in parts), dtype=np.int64, count=len(parts)), out=part_bounds[1:])
        counts = np.diff(np.searchsorted(starts, part_bounds))
        pw, inv = self._powers(n)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(b * pw, out=prefix[1:])
        return _mix((prefix[ends] - prefix[starts]) * inv[starts]), counts.astype(np.int64)

    def shingles(self, texts: Sequence[str]) -> tuple[U64, I64]:
        """Shingle hashes of all texts, concatenated, and each text's [start, end) offsets (n+1)."""
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        if not texts:
            return np.empty(0, dtype=np.uint64), offsets
        word_hashes, counts = self._words([shingle_words(t) for t in texts])
        per_doc = np.where(counts > 0, np.maximum(counts - self.ngram + 1, 1), 0)
        np.cumsum(per_doc, out=offsets[1:])
        if offsets[-1] == 0:
            return np.empty(0, dtype=np.uint64), offsets
        nonempty = counts[counts > 0]
        total = len(word_hashes)
        doc_end = np.repeat(np.cumsum(nonempty), nonempty)
        pos = np.arange(total)
        combined = word_hashes * self._ngram_mult[0]
        for i in range(1, self.ngram):
            shifted = np.zeros(total, dtype=np.uint64)
            shifted[: total - i] = word_hashes[i:]
            shifted *= self._ngram_mult[i]
            shifted[pos + i >= doc_end] = 0
            combined += shifted
        doc_start = doc_end - np.repeat(nonempty, nonempty)
        is_start = (pos + self.ngram <= doc_end) | ((pos == doc_start) & (doc_end - doc_start < self.ngram))
        return _mix(combined[is_start]), offsets

    def signatures(self, texts: Sequence[str]) -> U32:
        """(len(texts), num_perm) uint32; a text without words gets all-ones (see ``empty_rows``)."""
        shingles, offsets = self.shingles(texts)
        if self.method == "oph":
            return self._one_permutation(shingles, offsets)
        return self._permutations(shingles, offsets)

    def _one_permutation(self, shingles: U64, offsets: I64) -> U32:
        """One permutation hashing: the shingle's high bits pick a bin, its low bits compete for the
        bin's minimum; empty bins borrow from a probed bin, the same probe sequence for every text
        ("optimal densification", Shrivastava 2017), which keeps ``P[equal] = Jaccard`` per bin."""
        k = self.num_perm
        n_docs = len(offsets) - 1
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
        bins = (((shingles >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)
        slots = doc * k + bins
        flat = np.full(n_docs * k, _EMPTY32, dtype=np.uint32)
        np.minimum.at(flat, slots, (shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        filled = np.zeros(n_docs * k, dtype=bool)
        filled[slots] = True
        sig = flat.reshape(n_docs, k)
        full = filled.reshape(n_docs, k)
        rows, cols = np.nonzero(~full & (np.diff(offsets) > 0)[:, None])
        if len(rows):
            source = sig.copy()
            for attempt in range(len(self._probes)):
                probe = self._probes[attempt, cols]
                hit = full[rows, probe]
                sig[rows[hit], cols[hit]] = source[rows[hit], probe[hit]]
                rows, cols = rows[~hit], cols[~hit]
                if not len(rows):
                    break
            if len(rows):  # practically unreachable: fall back to the first filled bin
                sig[rows, cols] = source[rows, np.argmax(full[rows], axis=1)]
        return sig

    def _permutations(self, shingles: U64, offsets: I64) -> U32:
        """Classic MinHash: ``num_perm`` permutations of every shingle, min per text."""
        n_docs = len(offsets) - 1
        mins = np.full((n_docs, self.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
        a, b = self._a[None, :], self._b[None, :]
        block = np.empty((_BLOCK, self.num_perm), dtype=np.uint64)
        starts, ends = offsets[:-1], offsets[1:]
        nonempty = np.flatnonzero(ends > starts)
        nz_starts, nz_ends = starts[nonempty], ends[nonempty]
        for s0 in range(0, len(shingles), _BLOCK):
            s1 = min(s0 + _BLOCK, len(shingles))
            buf = block[: s1 - s0]
            np.multiply(shingles[s0:s1, None], a, out=buf)
            buf += b
            lo = int(np.searchsorted(nz_ends, s0, side="right"))
            hi = int(np.searchsorted(nz_starts, s1, side="left"))
            local = np.maximum(nz_starts[lo:hi], s0) - s0
            rows = nonempty[lo:hi]
            mins[rows] = np.minimum(mins[rows], np.minimum.reduceat(buf, local, axis=0))
        sig = (mins >> np.uint64(32)).astype(np.uint32)
        sig[ends == starts] = _EMPTY32
        return sig

    def band_keys(self, signatures: U32) -> U64:
        """(n, bands) uint64: a hash of each band's rows; 0 for texts without words."""
        n = len(signatures)
        used = signatures[:, : self.bands * self.rows].reshape(n, self.bands, self.rows).astype(np.uint64)
        keys = (used * self._band_mult).sum(axis=2, dtype=np.uint64)
        keys += np.arange(1, self.bands + 1, dtype=np.uint64) * _GOLDEN
        keys = _mix(keys)
        keys[keys == 0] = 1
        keys[empty_rows(signatures)] = 0
        return keys


def empty_rows(signatures: U32) -> npt.NDArray[np.bool_]:
    """Rows that are signatures of texts without words (every value all-ones)."""
    return np.all(signatures == np.iinfo(np.uint32).max, axis=1)  # type: ignore[no-any-return]


def estimate_similarity(a: U32, b: U32) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity of signatures (row-wise)."""
    return np.mean(np.asarray(a) == np.asarray(b), axis=-1)  # type: ignore[no-any-return]


def to_npy(array: npt.NDArray[np.generic]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def from_npy(data: bytes) -> npt.NDArray[np.generic]:
    return np.load(io.BytesIO(data), allow_pickle=False)  # type: ignore[no-any-return]


# -- per shard -------------------------------------------------------------------------------------


@dataclass
class ShardSignatures:
    """What a filter pod writes for the global pass: band keys (and signatures, to verify)."""

    band_keys: U64
    signatures: U32 | None = None


class MinHashFilter(Filter):
    """Collects `hasher`'s band keys (a default :class:`MinHasher` when None) for the records the chain
    accepts, in output order.

    It never drops in the per-shard pass: duplicates are decided globally by
    :func:`cluster_duplicates` over every shard's :meth:`finish` output.
    """

    type = "minhash"

    def __init__(
        self,
        *,
        hasher: MinHasher | None = None,
        batch_size: int = 1024,
        keep_signatures: bool = False,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.hasher = MinHasher() if hasher is None else hasher
        self.batch_size = batch_size
        self.keep_signatures = keep_signatures
        self.fields = fields
        self._pending: list[str] = []
        self._keys: list[U64] = []
        self._sigs: list[U32] = []

    def apply(self, record: Record) -> FilterResult:
        return KEEP

    def observe(self, record: Record) -> None:
        self._pending.append(text_of(record, self.fields))
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        sigs = self.hasher.signatures(self._pending)
        self._pending = []
        self._keys.append(self.hasher.band_keys(sigs))
        if self.keep_signatures:
            self._sigs.append(sigs)

    def finish(self) -> ShardSignatures:
        self._flush()
        keys = np.concatenate(self._keys) if self._keys else np.empty((0, self.hasher.bands), np.uint64)
        sigs = None
        if self.keep_signatures:
            sigs = np.concatenate(self._sigs) if self._sigs else np.empty((0, self.hasher.num_perm), np.uint32)
        return ShardSignatures(band_keys=keys, signatures=sigs)


# -- global pass -----------------------------------------------------------------------------------


@dataclass
class NearDupResult:
    drop: dict[int, I64]  # shard -> sorted indices to drop
    clusters: int  # clusters with more than one record
    duplicates: int  # records dropped
    cluster_sizes: dict[int, int] = field(default_factory=dict)  # size -> number of clusters
    #: The largest clusters (at most EXAMPLE_CLUSTERS, first EXAMPLE_MEMBERS members each), as (shard, index).
    examples: list[list[tuple[int, int]]] = field(default_factory=list)


EXAMPLE_CLUSTERS = 2
EXAMPLE_MEMBERS = 3


def _components(n: int, u: npt.NDArray[np.intp], v: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Smallest member of each node's connected component (hook to minimum + pointer jumping)."""
    labels = np.arange(n)
    while True:
        low = np.minimum(labels[u], labels[v])
        before = labels.copy()
        np.minimum.at(labels, labels[u], low)
        np.minimum.at(labels, labels[v], low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def cluster_duplicates(
    shards: Mapping[int, ShardSignatures | U64],
    *,
    verify_threshold: float | None = None,
) -> NearDupResult:
    """Cluster records sharing any band key; keep the lowest (shard, index) of each cluster.

    ``shards`` maps shard number -> :class:`ShardSignatures` (or a bare band-key array).
    ``verify_threshold``: only link candidate pairs whose estimated similarity (from the
    signatures, which must then be present) reaches it, removing LSH false positives.
    """
    order = sorted(shards)
    keys_list: list[U64] = []
    sigs_list: list[U32] = []
    for s in order:
        item = shards[s]
        if isinstance(item, ShardSignatures):
            keys_list.append(np.asarray(item.band_keys, dtype=np.uint64))
            if verify_threshold is not None:
                if item.signatures is None:
                    raise ValueError(f"shard {s} has no signatures; verification needs them")
                sigs_list.append(item.signatures)
        else:
            if verify_threshold is not None:
                raise ValueError(f"shard {s} has only band keys; verification needs signatures")
            keys_list.append(np.asarray(item, dtype=np.uint64))
    sizes = [len(k) for k in keys_list]
    result = NearDupResult(drop={s: np.empty(0, dtype=np.int64) for s in order}, clusters=0, duplicates=0)
    total = sum(sizes)
    if total == 0:
        return result
    keys = np.concatenate(keys_list)
    us: list[npt.NDArray[np.intp]] = []
    vs: list[npt.NDArray[np.intp]] = []
    for band in range(keys.shape[1]):
        column = keys[:, band]
        perm = np.argsort(column, kind="stable")
        ordered = column[perm]
        same = (ordered[1:] == ordered[:-1]) & (ordered[1:] != 0)
        if not same.any():
            continue
        # link each member of a run of equal keys to the run's first member
        run_start = np.flatnonzero(np.concatenate(([True], ~same)))
        run_id = np.cumsum(np.concatenate(([True], ~same))) - 1
        members = np.flatnonzero(np.concatenate(([False], same)))
        us.append(perm[run_start[run_id[members]]])
        vs.append(perm[members])
    if not us:
        return result
    u, v = np.concatenate(us), np.concatenate(vs)
    if verify_threshold is not None:
        sigs = np.concatenate(sigs_list)
        keep = estimate_similarity(sigs[u], sigs[v]) >= verify_threshold
        u, v = u[keep], v[keep]
    labels = _components(total, u, v)
    gid = np.arange(total)
    dropped = np.flatnonzero(labels != gid)
    shard_pos = np.repeat(np.arange(len(order)), sizes)
    local = gid - np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    for pos, shard in enumerate(order):
        result.drop[shard] = np.sort(local[dropped[shard_pos[dropped] == pos]]).astype(np.int64)
    counts = np.bincount(labels, minlength=total)
    multi = counts[counts > 1]
    result.clusters = len(multi)
    result.duplicates = len(dropped)
    sizes_hist = np.bincount(multi)
    result.cluster_sizes = {int(k): int(c) for k, c in enumerate(sizes_hist) if c}
    roots = np.flatnonzero(counts > 1)
    largest = roots[np.argsort(-counts[roots], kind="stable")[:EXAMPLE_CLUSTERS]]
    for root in largest:
        members = np.flatnonzero(labels == root)[:EXAMPLE_MEMBERS]
        result.examples.append([(order[int(shard_pos[m])], int(local[m])) for m in members])
    return result

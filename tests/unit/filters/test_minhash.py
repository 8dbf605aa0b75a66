from __future__ import annotations

import numpy as np
import pytest

from datafoundry.filters import FilterChain, MinHasher, MinHashFilter, ShardSignatures, cluster_duplicates
from datafoundry.filters.minhash import estimate_similarity, from_npy, optimal_bands, shingle_words, to_npy

from .filter_corpus import random_text, replace_words, vocabulary

VOCAB = vocabulary()
BASES = [random_text(100, seed=100 + i, vocab=VOCAB) for i in range(4)]


def _shard(texts: list[str], hasher: MinHasher | None = None) -> ShardSignatures:
    f = MinHashFilter(hasher=hasher, batch_size=3, keep_signatures=True, fields=["text"])
    out = list(FilterChain([f]).run({"text": t} for t in texts))
    assert len(out) == len(texts)  # the per-shard pass never drops
    return f.finish()


def _jaccard(a: str, b: str, n: int = 5) -> float:
    def grams(t: str) -> set[tuple[bytes, ...]]:
        w = shingle_words(t).split()
        return set(zip(*(w[i:] for i in range(n)), strict=False))

    return len(grams(a) & grams(b)) / len(grams(a) | grams(b))


def test_near_duplicates_across_shards_clustered_and_lowest_copy_kept() -> None:
    near0 = replace_words(BASES[0], [40], seed=1)  # one word changed
    near0b = replace_words(BASES[0], [10, 70], seed=2)  # two words changed
    near1 = replace_words(BASES[1], [55], seed=3)
    assert 0.8 < _jaccard(BASES[0], near0b) < 0.9
    heavy = replace_words(BASES[2], list(range(0, 100, 4)), seed=4)  # paraphrase-level rewrite
    assert _jaccard(BASES[2], heavy) < 0.1
    shards = {
        0: _shard([BASES[0], BASES[1], BASES[2], random_text(80, seed=9, vocab=VOCAB)]),
        1: _shard([random_text(120, seed=10, vocab=VOCAB), near1, heavy]),
        2: _shard([near0, BASES[3], near0b]),
    }
    result = cluster_duplicates(shards)
    assert {s: d.tolist() for s, d in result.drop.items()} == {0: [], 1: [1], 2: [0, 2]}
    assert result.duplicates == 3
    assert result.clusters == 2
    assert result.cluster_sizes == {2: 1, 3: 1}


def test_shard_order_decides_the_survivor_not_the_mapping_order() -> None:
    near = replace_words(BASES[0], [50], seed=5)
    result = cluster_duplicates({5: _shard([near]), 3: _shard([BASES[1], BASES[0]])})
    assert {s: d.tolist() for s, d in result.drop.items()} == {3: [], 5: [0]}


def test_within_one_shard_and_empty_texts_are_not_duplicates_of_each_other() -> None:
    near = replace_words(BASES[3], [20], seed=6)
    shard = _shard([BASES[3], "", "!!!", near, BASES[2]])
    assert np.all(shard.band_keys[1:3] == 0)
    result = cluster_duplicates({0: shard})
    assert result.drop[0].tolist() == [3]


def test_signatures_estimate_jaccard() -> None:
    hasher = MinHasher(num_perm=256)
    pairs = [
        (BASES[0], replace_words(BASES[0], idx, seed=7)) for idx in ([5], [5, 50], [5, 35, 65], [3, 23, 43, 63, 83])
    ]
    a = hasher.signatures([p[0] for p in pairs])
    b = hasher.signatures([p[1] for p in pairs])
    estimates = estimate_similarity(a, b)
    truth = np.array([_jaccard(x, y) for x, y in pairs])
    assert np.all(np.abs(estimates - truth) < 0.1), (estimates, truth)
    assert estimate_similarity(a[0], hasher.signatures([BASES[1]])[0]) < 0.05


@pytest.mark.parametrize("method", ["oph", "permutations"])
def test_deterministic_and_serialisable(method: str) -> None:
    texts = [*BASES, "short text", "", "韓国語ではなく日本語の文章です"]
    a = MinHasher(method=method, seed=3)  # type: ignore[arg-type]
    b = MinHasher(method=method, seed=3)  # type: ignore[arg-type]
    sig_a, sig_b = a.signatures(texts), b.signatures(texts[:3] + texts[3:])
    assert sig_a.dtype == np.uint32
    assert sig_a.shape == (len(texts), 128)
    np.testing.assert_array_equal(sig_a, sig_b)
    # batching does not change a text's signature
    np.testing.assert_array_equal(np.concatenate([a.signatures(texts[:2]), a.signatures(texts[2:])]), sig_a)
    keys = a.band_keys(sig_a)
    assert keys.shape == (len(texts), a.bands)
    np.testing.assert_array_equal(from_npy(to_npy(keys)), keys)
    assert not np.array_equal(MinHasher(method=method, seed=4).signatures(texts[:1]), sig_a[:1])


def test_case_punctuation_and_cjk_normalisation() -> None:
    hasher = MinHasher()
    a, b = hasher.signatures([BASES[0], BASES[0].upper().replace(" ", " , ")])
    np.testing.assert_array_equal(a, b)
    assert shingle_words("日本語, OK!").decode().split() == ["日", "本", "語", "ok"]


def test_verification_removes_band_collisions_below_threshold() -> None:
    near = replace_words(BASES[0], [10, 70], seed=2)
    hasher = MinHasher(num_perm=128, bands=64)
    shards = {0: _shard([BASES[0]], hasher), 1: _shard([near], hasher)}
    assert cluster_duplicates(shards).duplicates == 1
    assert cluster_duplicates(shards, verify_threshold=0.95).duplicates == 0
    with pytest.raises(ValueError, match="signatures"):
        cluster_duplicates({0: shards[0].band_keys}, verify_threshold=0.5)


def test_band_selection() -> None:
    assert optimal_bands(0.7, 128) == 14
    hasher = MinHasher(num_perm=112, bands=14)
    assert (hasher.bands, hasher.rows) == (14, 8)
    with pytest.raises(ValueError, match="bands"):
        MinHasher(num_perm=64, bands=65)
    with pytest.raises(ValueError, match="threshold"):
        MinHasher(threshold=1.5)

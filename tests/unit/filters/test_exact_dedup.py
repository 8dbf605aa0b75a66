from __future__ import annotations

import numpy as np

from datafoundry.filters import ExactDedupFilter, FilterChain, LengthFilter, cross_shard_duplicates
from datafoundry.filters.exact_dedup import array_to_hashes, hashes_to_array, text_hash
from datafoundry.filters.text import normalize


def test_normalisation_ignores_case_spacing_punctuation_and_width() -> None:
    assert normalize("  Hello,\tWORLD!!  ") == "hello world"
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "Hello") + "\u3000" + "world"
    assert normalize(fullwidth) == "hello world"  # full-width forms and ideographic space (NFKC)
    assert normalize("Straße") == normalize("STRASSE")  # casefold
    assert text_hash("Hello world") == text_hash("hello   WORLD.")
    assert text_hash("Hello world") != text_hash("Hello words")


def test_planted_exact_duplicates_removed_first_copy_kept() -> None:
    records = [
        {"id": 0, "instruction": "What is 2 + 2?", "output": "4"},
        {"id": 1, "instruction": "Name a primary colour.", "output": "Red."},
        {"id": 2, "instruction": "what is 2 + 2", "output": "  4 "},  # case/space/punctuation
        {"id": 3, "instruction": "WHAT IS 2 + 2 ?", "output": "4!"},
        {"id": 4, "instruction": "What is 2 + 3?", "output": "5"},
    ]
    chain = FilterChain([ExactDedupFilter()])
    kept = [r["id"] for r in chain.run(records)]
    assert kept == [0, 1, 4]
    assert chain.funnel.dropped_by["exactDedup"] == {"duplicate": 2}


def test_a_copy_dropped_later_in_the_chain_does_not_shadow_the_next_copy() -> None:
    dedup = ExactDedupFilter(fields=["text"])
    chain = FilterChain([dedup, LengthFilter(max_chars=10, fields=["note"])])
    records = [
        {"text": "same text", "note": "x" * 50},  # dropped by length after dedup saw it
        {"text": "Same text.", "note": "ok"},
    ]
    assert list(chain.run(records)) == [records[1]]
    assert len(dedup.accepted_hashes()) == 1


def test_hash_sets_export_and_merge_across_shards() -> None:
    shard0 = ExactDedupFilter()
    list(FilterChain([shard0]).run([{"text": "alpha beta"}, {"text": "gamma"}]))
    exported = shard0.export()
    assert exported.dtype == np.uint64
    assert exported.shape == (2, 1)

    shard1 = ExactDedupFilter()
    shard1.merge(exported)
    kept = list(FilterChain([shard1]).run([{"text": "ALPHA beta!"}, {"text": "delta"}]))
    assert kept == [{"text": "delta"}]


def test_128_bit_hashes_round_trip() -> None:
    hashes = [text_hash("a", 128), text_hash("b", 128)]
    assert any(h >= 1 << 64 for h in hashes)  # 16-byte digests
    array = hashes_to_array(hashes, 128)
    assert array.shape == (2, 2)
    assert array_to_hashes(array) == hashes


def test_cross_shard_pass_keeps_lowest_shard_and_index() -> None:
    shards = {}
    texts = {
        2: ["one", "two", "three"],
        0: ["four", "Two!", "five", "TWO"],
        1: ["six", "four", "seven"],
    }
    for shard, items in texts.items():
        f = ExactDedupFilter(hash_bits=128)
        # within a shard, the streaming filter already removed "TWO" after "Two!"
        kept = list(FilterChain([f]).run({"text": t} for t in items))
        shards[shard] = f.accepted_hashes()
        assert len(kept) == len(set(normalize(t) for t in items))
    drop = cross_shard_duplicates(shards)
    assert {s: d.tolist() for s, d in drop.items()} == {0: [], 1: [1], 2: [1]}


def test_cross_shard_pass_tolerates_empty_shards() -> None:
    full = np.array([[1, 2], [3, 4], [1, 2]], dtype=np.uint64)  # 128-bit hashes: two words each
    drops = cross_shard_duplicates({0: np.empty(0, dtype=np.uint64), 1: full, 2: np.empty(0, dtype=np.uint64)})
    assert drops[0].tolist() == [] and drops[2].tolist() == []
    assert drops[1].tolist() == [2]

"""Pure publishing helpers: deterministic selection, shard splitting and bytes."""

from __future__ import annotations

import io

import pytest

from datafoundry.publish import formats
from datafoundry.publish.select import interleave, smallest, smallest_per_group, sort_key


def test_selection_is_seeded_and_order_independent() -> None:
    items = [(sort_key(42, "g", 0, 0, i), {"i": i}) for i in range(1000)]
    a = smallest(items, 100)
    b = smallest(list(reversed(items)), 100)
    assert a == b and len(a) == 100
    other = smallest([(sort_key(43, "g", 0, 0, i), {"i": i}) for i in range(1000)], 100)
    assert [r["i"] for _, r in a] != [r["i"] for _, r in other]
    merged = interleave(a[:50], a[50:])
    assert merged == [r for _, r in a]


def test_each_group_keeps_its_own_smallest_keys_in_one_pass() -> None:
    items = [(i % 3 == 0, (sort_key(7, "g", 0, 0, i), {"i": i})) for i in range(900)]
    domain, replay = smallest_per_group(((int(g), c) for g, c in items), [100, 20])
    assert domain == smallest([c for g, c in items if not g], 100)
    assert replay == smallest([c for g, c in items if g], 20)
    assert all(r["i"] % 3 == 0 for _, r in replay) and not any(r["i"] % 3 == 0 for _, r in domain)
    assert smallest_per_group(((int(g), c) for g, c in items), [5, 0])[1] == []


def test_split_by_records_and_bytes() -> None:
    records = [{"text": "x" * 100, "i": i} for i in range(250)]
    assert [len(c) for c in formats.split(records, 100, None)] == [100, 100, 50]
    by_bytes = list(formats.split(records, None, 1200))
    assert sum(len(c) for c in by_bytes) == 250 and all(len(c) <= 11 for c in by_bytes)


def test_shard_bytes_are_deterministic_and_readable() -> None:
    import pyarrow.parquet as pq
    import zstandard

    records = formats.conform([{"a": 1, "t": "é"}, {"b": [1, 2], "t": "z"}], ["a", "t", "b"])
    assert records[1] == {"a": None, "t": "z", "b": [1, 2]}
    for fmt, comp in [("jsonl", "none"), ("jsonl", "zstd"), ("parquet", "none"), ("parquet", "zstd")]:
        schema = formats.parquet_schema(records) if fmt == "parquet" else None
        one = formats.encode(records, fmt, comp, schema)
        assert one == formats.encode(records, fmt, comp, schema)
    jz = formats.encode(records, "jsonl", "zstd")
    assert zstandard.ZstdDecompressor().decompress(jz).decode().splitlines()[0] == '{"a":1,"t":"é","b":null}'
    pqb = formats.encode(records, "parquet", "zstd", formats.parquet_schema(records))
    assert pq.read_table(io.BytesIO(pqb)).to_pylist() == records
    with pytest.raises(ValueError, match="one Parquet schema"):
        formats.parquet_schema([{"a": 1}, {"a": "text"}])

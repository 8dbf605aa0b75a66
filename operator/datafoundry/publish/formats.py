"""Published shard formats: JSONL (optionally zstd) and Parquet, and how records are split into shards.

Bytes are a pure function of the records: compact JSON with sorted-by-first-appearance columns,
zstd at a fixed level without threads, Parquet through pyarrow with fixed options (no timestamps
are written by either).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from datafoundry.records.encode import dumps, encode_jsonl

DEFAULT_SHARD_RECORDS = 100_000
ZSTD_LEVEL = 3


def extension(fmt: str, compression: str) -> str:
    if fmt == "parquet":
        return "parquet"
    return "jsonl.zst" if compression == "zstd" else "jsonl"


def columns(records: Sequence[dict[str, Any]]) -> list[str]:
    """Every top-level key of the records, in order of first appearance."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            if key not in seen:
                seen[key] = None
    return list(seen)


def conform(records: Sequence[dict[str, Any]], cols: Sequence[str]) -> list[dict[str, Any]]:
    """Records with every column (null where a record lacks it), so every reader sees one schema."""
    return [{c: r.get(c) for c in cols} for r in records]


def split(records: Sequence[dict[str, Any]], shard_records: int | None, shard_bytes: int | None) -> Iterator[
    Sequence[dict[str, Any]]
]:
    """Consecutive shards of at most `shard_records` records, or of about `shard_bytes` bytes of
    JSON (a shard closes once it reaches the size; compression makes files smaller)."""
    if shard_bytes is None:
        size = shard_records or DEFAULT_SHARD_RECORDS
        for i in range(0, len(records), size):
            yield records[i : i + size]
        return
    start, acc = 0, 0
    for i, record in enumerate(records):
        acc += len(dumps(record).encode("utf-8")) + 1
        if acc >= shard_bytes:
            yield records[start : i + 1]
            start, acc = i + 1, 0
    if start < len(records):
        yield records[start:]


def parquet_schema(records: Sequence[dict[str, Any]]) -> Any:
    """One Arrow schema for all shards (ValueError when a column's types conflict)."""
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(list(records)).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ValueError(f"records do not fit one Parquet schema: {e}") from e


def encode(records: Sequence[dict[str, Any]], fmt: str, compression: str, schema: Any = None) -> bytes:
    """The bytes of one shard."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(list(records), schema=schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd" if compression == "zstd" else "none",
                       write_statistics=True, store_schema=True)
        return buf.getvalue()
    data = encode_jsonl(records)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, threads=0).compress(data)
    return data


def content_type(fmt: str, compression: str) -> str:
    if fmt == "parquet":
        return "application/vnd.apache.parquet"
    return "application/zstd" if compression == "zstd" else "application/x-ndjson"

"""Records as JSONL: one encoding for staged parts, published shards and previews."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def dumps(record: Mapping[str, Any], default: Callable[[Any], Any] | None = None) -> str:
    """One record as a JSONL line (without the newline): stable, compact, UTF-8.

    `default` turns values JSON lacks into JSON (a preview passes `str` for Parquet timestamps);
    without it such a value is a TypeError, so nothing published is silently changed."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=default)


def encode_jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    """The records as UTF-8 JSONL, one line each, every line ending with a newline."""
    return "".join(dumps(r) + "\n" for r in records).encode("utf-8")

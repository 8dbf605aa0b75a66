"""Reading records from object URIs (input, replay, eval sets) and staged JSONL parts.

Every URI in the spec uses the output's connection settings (`storage.settings.output_env`). A URI names one
object or a prefix; a prefix stands for every data object under it (names starting with `_` or
`.` are skipped: `_SUCCESS`, `_DONE.json`, temporary files), in key order. Records are JSON
objects: JSONL (optionally `.gz`/`.zst`), Parquet rows, or plain text lines (`{text_field: line}`).

Malformed lines (not JSON, not an object, not UTF-8, longer than `lines.max_line_bytes()`) are
not fatal by themselves: `LineErrors` counts them with the object and line number, and the caller
fails with `BadInput` when they exceed `MAX_MALFORMED_FRACTION`. Objects are streamed (see
`datafoundry.workers.lines`); an object that cannot be read as UTF-8 lines at all (UTF-16, corrupt
compression) fails with `BadInput` at once.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datafoundry.storage import ObjectStore, open_store, split_uri
from datafoundry.workers.common import BadInput
from datafoundry.workers.lines import (
    READ_SIZE,
    Line,
    StreamError,
    decode,
    iter_lines,
    json_object,
    max_line_bytes,
    reader,
)

#: A shard (or replay source) fails with BadInput when more than this fraction of its lines is malformed.
MAX_MALFORMED_FRACTION = 0.01
#: How many malformed lines are named in messages and reports.
MAX_REPORTED_ERRORS = 20

_JSONL_EXT = (".jsonl", ".json", ".ndjson")
_COMPRESSED = (".gz", ".zst", ".zstd")


@dataclass(frozen=True)
class SourceObject:
    """One data object: the store it lives in, its key there, and its full URI (for messages)."""

    store: ObjectStore
    key: str
    uri: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass
class LineErrors:
    """Malformed lines seen so far: a count and the first few, named by object URI and line."""

    lines: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, uri: str, line: int, error: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_REPORTED_ERRORS:
            self.examples.append(f"{uri} line {line}: {error}")

    def summary(self) -> str:
        if not self.malformed:
            return ""
        shown = "; ".join(self.examples[:5])
        more = f" (and {self.malformed - 5} more)" if self.malformed > 5 else ""
        return f"{self.malformed} malformed of {self.lines} lines: {shown}{more}"

    def check(self, what: str, max_fraction: float = MAX_MALFORMED_FRACTION) -> None:
        """BadInput when more than `max_fraction` of the lines were malformed."""
        if self.malformed and self.malformed > max_fraction * self.lines:
            raise BadInput(f"{what}: {self.summary()}; more than {max_fraction:.0%} of the lines are malformed")

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "malformed": self.malformed, "examples": list(self.examples)}


def _is_data_object(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


def resolve(uri: str, env: Mapping[str, str]) -> list[SourceObject]:
    """The data objects a URI names (one object, or every data object under a prefix); [] if none."""
    scheme, bucket, prefix = split_uri(uri)
    if scheme == "s3":
        store = open_store(f"s3://{bucket}", env)
        if prefix and store.exists(prefix):
            return [SourceObject(store, prefix, f"s3://{bucket}/{prefix}")]
        below = f"{prefix.rstrip('/')}/" if prefix else ""
        return [SourceObject(store, k, f"s3://{bucket}/{k}") for k in store.list(below) if _is_data_object(k)]
    path = Path(prefix).expanduser().resolve()
    if path.is_file():
        store = open_store(f"file://{path.parent}")
        return [SourceObject(store, path.name, f"file://{path}")]
    if path.is_dir():
        store = open_store(f"file://{path}")
        return [SourceObject(store, k, f"file://{path / k}") for k in store.list("") if _is_data_object(k)]
    return []


def detect_format(name: str, declared: str = "auto") -> str:
    """jsonl | parquet | text for an object name (`declared` wins unless it is auto)."""
    if declared != "auto":
        return declared
    base = name
    for ext in _COMPRESSED:
        if base.endswith(ext):
            base = base[: -len(ext)]
    if base.endswith(_JSONL_EXT):
        return "jsonl"
    if base.endswith(".parquet"):
        return "parquet"
    return "text"


def iter_jsonl(data: bytes, uri: str, errors: LineErrors) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number from 1, record) of every well-formed line of `data`; blank lines are skipped."""
    yield from _jsonl_lines(io.BytesIO(data).read, uri, errors, max_line_bytes())


def _lines(read: Callable[[int], bytes], uri: str, errors: LineErrors, limit: int) -> Iterator[Line]:
    """The non-blank lines within `limit`; longer ones are counted as malformed and skipped."""
    number = 0
    try:
        for line in iter_lines(read, limit):
            number = line.number
            if line.data is None:
                errors.lines += 1
                errors.add(uri, line.number, line.too_long_message(limit))
            elif line.data.strip():
                errors.lines += 1
                yield line
    except StreamError as e:
        raise BadInput(f"{uri} line {number + 1}: {e}") from e


def _parsed_lines(
    read: Callable[[int], bytes], uri: str, errors: LineErrors, limit: int, parse: Callable[[Line], dict[str, Any]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each line `parse` accepts; a ValueError is a malformed line, a
    StreamError (the object itself is unreadable) fails the shard."""
    for line in _lines(read, uri, errors, limit):
        try:
            value = parse(line)
        except StreamError as e:
            raise BadInput(f"{uri} line {line.number}: {e}") from e
        except ValueError as e:
            errors.add(uri, line.number, str(e))
            continue
        yield line.number, value


def _jsonl_lines(
    read: Callable[[int], bytes], uri: str, errors: LineErrors, limit: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    return _parsed_lines(read, uri, errors, limit, json_object)


def _text_lines(
    read: Callable[[int], bytes], uri: str, errors: LineErrors, limit: int, text_field: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    return _parsed_lines(read, uri, errors, limit, lambda line: {text_field: decode(line)})


def _iter_parquet(data: bytes, uri: str, errors: LineErrors) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as e:
        raise BadInput(f"{uri}: not a readable Parquet file ({e})") from e
    row = 0
    for batch in parquet.iter_batches(batch_size=8192):
        for record in batch.to_pylist():
            row += 1
            errors.lines += 1
            yield row, record


def iter_records(
    obj: SourceObject, fmt: str, errors: LineErrors, text_field: str = "text"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number from 1, record) of one object in format `fmt` (auto: from its name).

    JSONL and text objects stream: a line longer than `max_line_bytes()` is a malformed line,
    never loaded whole. Parquet needs the whole object (its footer comes last).
    """
    kind = detect_format(obj.name, fmt)
    stream = obj.store.open(obj.key)
    if stream is None:
        raise BadInput(f"{obj.uri}: object disappeared while reading")
    limit = max_line_bytes()
    with closing(stream):
        read = reader(stream, obj.name)
        if kind == "parquet":
            try:
                data = b"".join(iter(lambda: read(READ_SIZE), b""))
            except StreamError as e:
                raise BadInput(f"{obj.uri}: {e}") from e
            yield from _iter_parquet(data, obj.uri, errors)
        elif kind == "jsonl":
            yield from _jsonl_lines(read, obj.uri, errors, limit)
        else:
            yield from _text_lines(read, obj.uri, errors, limit, text_field)


def dumps(record: Mapping[str, Any]) -> str:
    """One record as a JSONL line (without the newline): stable, compact, UTF-8."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def encode_jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(dumps(r) + "\n" for r in records).encode("utf-8")

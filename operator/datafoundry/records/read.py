"""Reading records from data objects: formats, line limits and bad-input accounting.

Records are JSON objects: JSONL lines, Parquet rows, or plain text lines (`{text_field: line}`);
any of them may be compressed (`.gz`/`.zst`, see `compression`), and the format follows the
object's name without its compression extension unless it is declared.

Two policies for malformed lines (not JSON, not an object, not UTF-8, longer than
`lines.max_line_bytes()`):
- tolerant (`iter_records`, `iter_jsonl`): `LineErrors` counts them with the object and line
  number, and the caller fails with `BadInput` when they exceed `MAX_MALFORMED_FRACTION`
  (`LineErrors.check`). Input data, replay sources, eval sets and staged parts are read so.
- strict (`strict_jsonl`, `whole_text`, `parquet_column`): the first bad line is `BadInput`
  naming what it is (seeds, documents), the object and the line. A recipe's task inputs are read so.

Content that cannot be read as UTF-8 lines at all (UTF-16, corrupt compression) is `BadInput` at
once under either policy. JSONL and text stream; Parquet is read whole (its footer comes last).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datafoundry.pipeline.contract import ENV_MAX_LINE_BYTES, BadInput
from datafoundry.records.compression import StreamError, read_all, read_at_most, strip_compression
from datafoundry.records.fields import TEXT_FIELD
from datafoundry.records.lines import Line, decode, iter_lines, json_object, json_value, max_line_bytes
from datafoundry.records.objects import SourceObject, content, open_object

#: A shard (or replay source) fails with BadInput when more than this fraction of its lines is malformed.
MAX_MALFORMED_FRACTION = 0.01
#: How many malformed lines are named in messages and reports.
MAX_REPORTED_ERRORS = 20

_JSONL_EXT = (".jsonl", ".json", ".ndjson")

Read = Callable[[int], bytes]
Numbered = Iterator[tuple[int, dict[str, Any]]]


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


def detect_format(name: str, declared: str = "auto") -> str:
    """jsonl | parquet | text for an object name (`declared` wins unless it is auto); the name's
    compression extension is ignored and its case does not matter."""
    if declared != "auto":
        return declared
    base = strip_compression(name.lower())
    if base.endswith(_JSONL_EXT):
        return "jsonl"
    if base.endswith(".parquet"):
        return "parquet"
    return "text"


# -- tolerant: malformed lines are counted ----------------------------------------------------


def iter_jsonl(data: bytes, uri: str, errors: LineErrors) -> Numbered:
    """(line number from 1, record) of every well-formed line of `data`; blank lines are skipped."""
    yield from _jsonl_lines(io.BytesIO(data).read, uri, errors, max_line_bytes())


def _lines(read: Read, uri: str, errors: LineErrors, limit: int) -> Iterator[Line]:
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


def _parsed_lines(read: Read, uri: str, errors: LineErrors, limit: int,
                  parse: Callable[[Line], dict[str, Any]]) -> Numbered:
    """(line number, record) of each line `parse` accepts; a ValueError is a malformed line, a
    StreamError (the object itself is unreadable) is BadInput."""
    for line in _lines(read, uri, errors, limit):
        try:
            value = parse(line)
        except StreamError as e:
            raise BadInput(f"{uri} line {line.number}: {e}") from e
        except ValueError as e:
            errors.add(uri, line.number, str(e))
            continue
        yield line.number, value


def _jsonl_lines(read: Read, uri: str, errors: LineErrors, limit: int) -> Numbered:
    return _parsed_lines(read, uri, errors, limit, json_object)


def _text_lines(read: Read, uri: str, errors: LineErrors, limit: int, text_field: str) -> Numbered:
    return _parsed_lines(read, uri, errors, limit, lambda line: {text_field: decode(line)})


def _iter_parquet(data: bytes, uri: str, errors: LineErrors) -> Numbered:
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


def whole_object(read: Read, uri: str) -> bytes:
    """All of an object's (decompressed) content; BadInput when it cannot be decompressed."""
    try:
        return read_all(read)
    except StreamError as e:
        raise BadInput(f"{uri}: {e}") from e


def iter_records(obj: SourceObject, fmt: str, errors: LineErrors, text_field: str = TEXT_FIELD) -> Numbered:
    """(line or row number from 1, record) of one object in format `fmt` (auto: from its name).

    JSONL and text objects stream: a line longer than `max_line_bytes()` is a malformed line,
    never loaded whole. Parquet needs the whole object (its footer comes last).
    """
    kind = detect_format(obj.name, fmt)
    limit = max_line_bytes()
    with content(open_object(obj), obj.name) as read:
        if kind == "parquet":
            yield from _iter_parquet(whole_object(read, obj.uri), obj.uri, errors)
        elif kind == "jsonl":
            yield from _jsonl_lines(read, obj.uri, errors, limit)
        else:
            yield from _text_lines(read, obj.uri, errors, limit, text_field)


# -- strict: the first bad line is BadInput ---------------------------------------------------


def strict_jsonl(source: bytes | Read, what: str, uri: str, limit: int | None = None) -> Numbered:
    """(line number from 1, object) for each non-blank line, streamed; the first bad line is
    BadInput naming `what`, the object and the line."""
    read = io.BytesIO(source).read if isinstance(source, bytes) else source
    limit = max_line_bytes() if limit is None else limit
    number = 0
    try:
        for line in iter_lines(read, limit):
            number = line.number
            if line.data is None:
                raise BadInput(f"{what} {uri} line {line.number}: {line.too_long_message(limit)}")
            if not line.data.strip():
                continue
            try:
                value = json_value(line)
            except ValueError as e:
                raise BadInput(f"{what} {uri} line {line.number}: {e}") from e
            if not isinstance(value, dict):
                raise BadInput(f"{what} {uri} line {line.number}: not a JSON object")
            yield line.number, value
    except StreamError as e:
        raise BadInput(f"{what} {uri} line {max(number, 1)}: {e}") from e


def bounded_object(read: Read, what: str, uri: str, limit: int) -> bytes:
    """The whole (decompressed) content; BadInput when it is larger than `limit` bytes, read no further."""
    try:
        data = read_at_most(read, limit)
    except StreamError as e:
        raise BadInput(f"{what} {uri}: {e}") from e
    if len(data) > limit:
        raise BadInput(f"{what} {uri}: larger than the limit of {limit} bytes ({ENV_MAX_LINE_BYTES}); "
                       "split it into several objects")
    return data


def whole_text(data: bytes, what: str, uri: str) -> str:
    """`data` as UTF-8 text (a byte order mark dropped); BadInput naming the line otherwise."""
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        hint = " (UTF-16/32: byte order mark)" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        raise BadInput(f"{what} {uri} line {line}: not UTF-8 text{hint}") from e


def parquet_column(data: bytes, what: str, uri: str, column: str) -> Iterator[tuple[int, str]]:
    """(row from 0, text) of one string column of a Parquet object; BadInput when it has none."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
    except ImportError as e:  # pragma: no cover - pyarrow ships with vLLM
        raise BadInput(f"{what} {uri}: Parquet needs pyarrow in the generator image") from e
    try:
        table = pq.read_table(io.BytesIO(data), columns=[column])
    except Exception as e:
        raise BadInput(f"{what} {uri}: not a Parquet file with a {column!r} column ({e})") from e
    for row, text in enumerate(table.column(column).to_pylist()):
        if not isinstance(text, str):
            raise BadInput(f"{what} {uri} row {row}: field {column!r} is not a string")
        yield row, text

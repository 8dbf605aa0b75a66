"""Line-oriented content read as a stream, with a bound on the length of one line.

A line longer than the bound is never held in memory: its bytes are skipped up to the next
newline and the line is reported as too long, so a 1 GB line costs one read buffer, not 1 GB.
Text must be UTF-8 (a UTF-8 byte order mark is allowed); UTF-16/32 and binary data are named as
such in the error. Decompression happens before this (`datafoundry.records.compression`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from datafoundry.pipeline.contract import ENV_MAX_LINE_BYTES
from datafoundry.records.compression import READ_SIZE, StreamError

#: One record (or text line) of 64 MiB is far beyond any training example; longer lines are errors.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def max_line_bytes(env: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get(ENV_MAX_LINE_BYTES, "").strip()
    if not raw:
        return DEFAULT_MAX_LINE_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_MAX_LINE_BYTES}={raw!r} is not a number of bytes") from None
    if value < 1:
        raise ValueError(f"{ENV_MAX_LINE_BYTES}={raw!r} must be at least 1")
    return value


@dataclass(frozen=True)
class Line:
    """One line: its number (from 1), its bytes without the newline (None when longer than the
    limit: skipped), and its full length in bytes."""

    number: int
    data: bytes | None
    size: int

    def too_long_message(self, limit: int) -> str:
        return f"line of {self.size} bytes is longer than the limit of {limit} bytes ({ENV_MAX_LINE_BYTES}); skipped"


def iter_lines(read: Callable[[int], bytes], limit: int, read_size: int = READ_SIZE) -> Iterator[Line]:
    """Every line of a byte stream (`read(n)` returns b"" at the end), holding at most `limit` bytes."""
    number = 1
    pending: list[bytes] = []
    size = 0  # bytes of the current line so far
    skipping = False  # the current line is over the limit: its bytes are dropped
    while True:
        chunk = read(read_size)
        if not chunk:
            break
        parts = chunk.split(b"\n")
        tail = parts.pop()
        for part in parts:
            size += len(part)
            if skipping or size > limit:
                yield Line(number, None, size)
            else:
                pending.append(part)
                yield Line(number, b"".join(pending), size)
            number, size, skipping = number + 1, 0, False
            pending.clear()
        size += len(tail)
        if not skipping:
            if size > limit:
                skipping = True
                pending.clear()
            elif tail:
                pending.append(tail)
    if size:
        yield Line(number, None if skipping else b"".join(pending), size)


def _check_encoding(first: bytes) -> None:
    if first.startswith(_UTF16_BOMS):
        raise StreamError("UTF-16/32 text (byte order mark); only UTF-8 is supported")


def decode(line: Line) -> str:
    """The line as text; ValueError with a clear message when it is not UTF-8."""
    assert line.data is not None
    raw = line.data
    if line.number == 1:
        _check_encoding(raw)
        raw = raw.removeprefix(_UTF8_BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = raw[e.start]
        raise ValueError(f"not UTF-8 text (byte 0x{bad:02x} at byte {e.start + 1} of the line)") from None
    if "\x00" in text:
        raise ValueError("contains NUL bytes (UTF-16/32 text or binary data?); only UTF-8 is supported")
    return text.removesuffix("\r")


def json_value(line: Line) -> Any:
    """The line as a JSON value; ValueError with a clear message otherwise."""
    text = decode(line)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if _SURROGATE_ESCAPE.search(text):
        # json.loads turns an unpaired "\ud800" into a lone surrogate that no UTF-8 writer accepts.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains an unpaired UTF-16 surrogate escape (e.g. \\ud800): not valid Unicode") from None
    return value


def json_object(line: Line) -> dict[str, Any]:
    """The line as a JSON object; ValueError with a clear message otherwise."""
    value = json_value(line)
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an object")
    return value


"""Decompression by object name: ``.gz`` (gzip) and ``.zst``/``.zstd`` (Zstandard), as a stream.

Every reader of data objects goes through `reader`, so a compressed object is read the same way
wherever a URI may name it (documents, seeds, input, replay, eval sets, previews).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from typing import IO, Any

#: Bytes asked of a stream at a time.
READ_SIZE = 1 << 20


class StreamError(Exception):
    """The object's bytes cannot be read as a stream of lines (corrupt compression, UTF-16...)."""


def compression(name: str) -> str | None:
    """gzip | zstd | None for an object name (extensions are matched case-insensitively)."""
    name = name.lower()
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def strip_compression(name: str) -> str:
    """The name without its compression extension (``a.jsonl.gz`` -> ``a.jsonl``)."""
    if compression(name) is None:
        return name
    return name.rsplit(".", 1)[0]


def reader(stream: IO[bytes], name: str) -> Callable[[int], bytes]:
    """`read(n)` of the object's content, decompressed by its name; StreamError when it is corrupt."""
    kind = compression(name)
    if kind is None:
        return stream.read
    errors: tuple[type[BaseException], ...]
    source: Any
    if kind == "gzip":
        source = gzip.GzipFile(fileobj=stream)
        errors = (EOFError, gzip.BadGzipFile, zlib.error)
    else:
        import zstandard

        source = zstandard.ZstdDecompressor().stream_reader(stream)
        errors = (EOFError, zstandard.ZstdError)

    def read(n: int) -> bytes:
        try:
            return bytes(source.read(n))
        except errors as e:
            raise StreamError(f"corrupt or truncated {kind} data ({e})") from e

    return read


def read_all(read: Callable[[int], bytes]) -> bytes:
    """Everything `read` returns until the end."""
    return b"".join(iter(lambda: read(READ_SIZE), b""))


def read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """Up to `limit + 1` bytes: more than `limit` tells the caller the content is over its limit."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(min(READ_SIZE, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)

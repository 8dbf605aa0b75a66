"""The streaming line reader: line numbers, the length bound, encodings and compression errors."""

from __future__ import annotations

import gzip
import io

import pytest

from datafoundry.pipeline.contract import ENV_MAX_LINE_BYTES, BadInput
from datafoundry.records.compression import StreamError, reader
from datafoundry.records.lines import Line, decode, iter_lines, json_object, max_line_bytes
from datafoundry.records.read import LineErrors, iter_jsonl


def lines(data: bytes, limit: int = 100, read_size: int = 7) -> list[tuple[int, bytes | None, int]]:
    return [(ln.number, ln.data, ln.size) for ln in iter_lines(io.BytesIO(data).read, limit, read_size)]


def test_lines_numbers_and_last_line_without_newline() -> None:
    assert lines(b"a\n\nbc\r\nlast") == [(1, b"a", 1), (2, b"", 0), (3, b"bc\r", 3), (4, b"last", 4)]
    assert lines(b"") == []
    assert lines(b"x\n") == [(1, b"x", 1)]


def test_a_line_over_the_limit_is_skipped_and_counted_whole() -> None:
    data = b"ok\n" + b"y" * 50 + b"\nafter\n" + b"z" * 11
    assert lines(data, limit=10, read_size=4) == [(1, b"ok", 2), (2, None, 50), (3, b"after", 5), (4, None, 11)]
    # Exactly at the limit is fine.
    assert lines(b"1234567890\n", limit=10) == [(1, b"1234567890", 10)]


def test_decode_and_json_errors_are_clear() -> None:
    assert decode(Line(1, b"\xef\xbb\xbfhello\r", 9)) == "hello"
    with pytest.raises(StreamError, match="UTF-16/32 text"):
        decode(Line(1, "hi".encode("utf-16"), 6))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 0xe9 at byte 4 of the line\)"):
        decode(Line(2, "caf\xe9".encode("latin-1"), 4))
    with pytest.raises(ValueError, match="NUL bytes"):
        decode(Line(2, b"{\x00}", 3))
    with pytest.raises(ValueError, match="a JSON list, not an object"):
        json_object(Line(1, b"[1]", 3))
    with pytest.raises(ValueError, match="not valid JSON"):
        json_object(Line(1, b"{", 1))
    assert json_object(Line(1, b'{"a": 1}', 8)) == {"a": 1}


def test_truncated_gzip_is_a_stream_error() -> None:
    whole = gzip.compress(b'{"a": 1}\n' * 1000)
    read = reader(io.BytesIO(whole[: len(whole) // 2]), "x.jsonl.gz")
    with pytest.raises(StreamError, match="corrupt or truncated gzip data"):
        list(iter_lines(read, 100))
    read = reader(io.BytesIO(whole), "x.jsonl.gz")
    assert sum(1 for _ in iter_lines(read, 100)) == 1000


def test_max_line_bytes_from_the_environment() -> None:
    assert max_line_bytes({}) == 64 * 1024 * 1024
    assert max_line_bytes({ENV_MAX_LINE_BYTES: "1000"}) == 1000
    with pytest.raises(ValueError, match="not a number"):
        max_line_bytes({ENV_MAX_LINE_BYTES: "lots"})
    with pytest.raises(ValueError, match="at least 1"):
        max_line_bytes({ENV_MAX_LINE_BYTES: "0"})


def test_iter_jsonl_counts_every_kind_of_bad_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MAX_LINE_BYTES, "40")
    data = b'{"a": 1}\n[2]\n' + b'{"long": "' + b"x" * 100 + b'"}\n\xff\n{"b": 2}\n'
    errors = LineErrors()
    assert [n for n, _ in iter_jsonl(data, "s3://b/k", errors)] == [1, 5]
    assert (errors.lines, errors.malformed) == (5, 3)
    assert errors.examples[1].startswith("s3://b/k line 3: line of 112 bytes is longer than the limit of 40 bytes")
    with pytest.raises(BadInput, match=r"s3://b/k line 1: UTF-16/32 text"):
        list(iter_jsonl('{"a": 1}\n'.encode("utf-16"), "s3://b/k", LineErrors()))

"""Reading what the task points at: seed examples, the document corpus, the output schema.

Everything is read and checked before the first prompt is built, so bad input fails the shard
before any part is written. Errors are `BadInput` naming the object and, where there is one, the
line; a store that cannot be reached raises its own (retryable) error instead.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from datafoundry.api.spec import DataFormat, Documents, Seeds
from datafoundry.pipeline.contract import BadInput
from datafoundry.storage import open_store, split_uri
from datafoundry.strategies.base import DocChunk, Seed
from datafoundry.strategies.chunking import chunk_text
from datafoundry.workers.lines import ENV_MAX_LINE_BYTES, StreamError, iter_lines, json_value, max_line_bytes


def open_object(uri: str, what: str, env: Mapping[str, str]) -> IO[bytes]:
    """A stream of the object `uri` names (close it); BadInput when it does not exist."""
    scheme, bucket, key = split_uri(uri)
    if scheme == "file":
        try:
            return Path(key).open("rb")
        except OSError as e:
            raise BadInput(f"{what} {uri}: cannot read: {e.strerror or e}") from e
    stream = open_store(f"s3://{bucket}", env).open(key)
    if stream is None:
        raise BadInput(f"{what} {uri}: object not found")
    return stream


def read_object(uri: str, what: str, env: Mapping[str, str], limit: int | None = None) -> bytes:
    """The whole object; BadInput when it is larger than `limit` bytes (read no further than that)."""
    with closing(open_object(uri, what, env)) as stream:
        if limit is None:
            return stream.read()
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise BadInput(f"{what} {uri}: larger than the limit of {limit} bytes ({ENV_MAX_LINE_BYTES}); "
                       "split it into several objects")
    return data


def list_objects(uri: str, env: Mapping[str, str]) -> list[str]:
    """The URIs of the object `uri` names, or of every object under it as a prefix or directory."""
    scheme, bucket, key = split_uri(uri)
    if scheme == "file":
        path = Path(key)
        if path.is_dir():
            return [f"file://{p}" for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        return [uri]
    store = open_store(f"s3://{bucket}", env)
    if key and store.exists(key):
        return [uri]
    prefix = key.rstrip("/") + "/" if key else ""
    return [f"s3://{bucket}/{k}" for k in store.list(prefix)]


def _text(data: bytes, what: str, uri: str) -> str:
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        hint = " (UTF-16/32: byte order mark)" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        raise BadInput(f"{what} {uri} line {line}: not UTF-8 text{hint}") from e


def jsonl_objects(
    source: bytes | IO[bytes], what: str, uri: str, limit: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number from 1, object) for each non-blank line, streamed; the first bad line is BadInput."""
    read = io.BytesIO(source).read if isinstance(source, bytes) else source.read
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


def load_seeds(seeds: Seeds | None, env: Mapping[str, str]) -> tuple[Seed, ...]:
    if seeds is None:
        return ()
    if seeds.inline is not None:
        return tuple(Seed(f"task.seeds.inline[{i}]", dict(s)) for i, s in enumerate(seeds.inline))
    assert seeds.uri is not None
    with closing(open_object(seeds.uri, "seeds", env)) as stream:
        out = tuple(Seed(f"{seeds.uri}:{n}", obj) for n, obj in jsonl_objects(stream, "seeds", seeds.uri))
    if not out:
        raise BadInput(f"seeds {seeds.uri}: no examples (empty file)")
    return out


def _format(uri: str, fmt: DataFormat) -> DataFormat:
    if fmt != DataFormat.AUTO:
        return fmt
    name = uri.lower()
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return DataFormat.JSONL
    if name.endswith(".parquet"):
        return DataFormat.PARQUET
    return DataFormat.TEXT


def _documents(uri: str, docs: Documents, env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(document id, text) of each document in one object."""
    fmt = _format(uri, docs.format)
    if fmt == DataFormat.JSONL:
        with closing(open_object(uri, "documents", env)) as stream:
            for n, obj in jsonl_objects(stream, "documents", uri):
                text = obj.get(docs.text_field)
                if not isinstance(text, str):
                    raise BadInput(f"documents {uri} line {n}: field {docs.text_field!r} is missing or not a string")
                yield f"{uri}:{n}", text
    elif fmt == DataFormat.PARQUET:
        yield from _parquet(read_object(uri, "documents", env), uri, docs.text_field)
    else:
        # A text object is one document: bounded like one line, so a huge object is refused unread.
        yield uri, _text(read_object(uri, "documents", env, max_line_bytes()), "documents", uri)


def _parquet(data: bytes, uri: str, field: str) -> Iterator[tuple[str, str]]:
    import io

    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
    except ImportError as e:  # pragma: no cover - pyarrow ships with vLLM
        raise BadInput(f"documents {uri}: Parquet needs pyarrow in the generator image") from e
    try:
        table = pq.read_table(io.BytesIO(data), columns=[field])
    except Exception as e:
        raise BadInput(f"documents {uri}: not a Parquet file with a {field!r} column ({e})") from e
    for row, text in enumerate(table.column(field).to_pylist()):
        if not isinstance(text, str):
            raise BadInput(f"documents {uri} row {row}: field {field!r} is not a string")
        yield f"{uri}:{row}", text


def load_chunks(docs: Documents | None, seed: int, env: Mapping[str, str]) -> tuple[DocChunk, ...]:
    if docs is None:
        return ()
    objects = list_objects(docs.uri, env)
    if not objects:
        raise BadInput(f"documents {docs.uri}: no objects found")
    chunks: list[DocChunk] = []
    for uri in objects:
        for doc_id, text in _documents(uri, docs, env):
            for k, piece in enumerate(chunk_text(text, docs.chunk_chars, docs.chunk_overlap_chars)):
                chunks.append(DocChunk(f"{doc_id}#{k}", piece))
    if not chunks:
        raise BadInput(f"documents {docs.uri}: no text to chunk")
    if docs.max_chunks is not None and len(chunks) > docs.max_chunks:
        picked = sorted(random.Random(f"chunks:{seed}").sample(range(len(chunks)), docs.max_chunks))  # noqa: S311
        chunks = [chunks[i] for i in picked]
    return tuple(chunks)


def check_schema(schema: Mapping[str, Any] | None) -> None:
    """`task.outputSchema` must be a valid JSON Schema (and an object schema: records are objects)."""
    if schema is None:
        return
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise BadInput(f"task.outputSchema at {where}: not a valid JSON Schema: {e.message}") from e
    if schema.get("type") not in (None, "object"):
        raise BadInput("task.outputSchema: records are JSON objects, so its type must be 'object'")

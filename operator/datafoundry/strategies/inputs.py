"""Reading what the task points at: seed examples, the document corpus, the output schema.

Everything is read and checked before the first prompt is built, so bad input fails the shard
before any part is written. Objects are read as every other reader reads them
(`datafoundry.records`: `.gz`/`.zst`, markers such as `_SUCCESS` under a prefix skipped), under the
strict policy: errors are `BadInput` naming the object and, where there is one, the line; a store
that cannot be reached raises its own (retryable) error instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from datafoundry.api.spec import Documents, Seeds
from datafoundry.pipeline.contract import BadInput
from datafoundry.records.lines import max_line_bytes
from datafoundry.records.objects import SourceObject, content, open_object, open_uri, resolve
from datafoundry.records.read import (
    bounded_object,
    detect_format,
    parquet_column,
    strict_jsonl,
    whole_object,
    whole_text,
)
from datafoundry.records.schema import InvalidSchema, schema_validator
from datafoundry.strategies.base import DocChunk, Seed
from datafoundry.strategies.chunking import chunk_text


def load_seeds(seeds: Seeds | None, env: Mapping[str, str]) -> tuple[Seed, ...]:
    if seeds is None:
        return ()
    if seeds.inline is not None:
        return tuple(Seed(f"task.seeds.inline[{i}]", dict(s)) for i, s in enumerate(seeds.inline))
    assert seeds.uri is not None
    with content(open_uri(seeds.uri, "seeds", env), seeds.uri) as read:
        out = tuple(Seed(f"{seeds.uri}:{n}", obj) for n, obj in strict_jsonl(read, "seeds", seeds.uri))
    if not out:
        raise BadInput(f"seeds {seeds.uri}: no examples (empty file)")
    return out


def _documents(obj: SourceObject, docs: Documents) -> Iterator[tuple[str, str]]:
    """(document id, text) of each document in one object."""
    uri, field = obj.uri, docs.text_field
    fmt = detect_format(obj.name, docs.format.value)
    with content(open_object(obj), obj.name) as read:
        if fmt == "jsonl":
            for n, record in strict_jsonl(read, "documents", uri):
                text = record.get(field)
                if not isinstance(text, str):
                    raise BadInput(f"documents {uri} line {n}: field {field!r} is missing or not a string")
                yield f"{uri}:{n}", text
        elif fmt == "parquet":
            for row, text in parquet_column(whole_object(read, uri), "documents", uri, field):
                yield f"{uri}:{row}", text
        else:
            # A text object is one document: bounded like one line, so a huge object is refused unread.
            yield uri, whole_text(bounded_object(read, "documents", uri, max_line_bytes()), "documents", uri)


def load_chunks(docs: Documents | None, seed: int, env: Mapping[str, str]) -> tuple[DocChunk, ...]:
    if docs is None:
        return ()
    objects = resolve(docs.uri, env)
    if not objects:
        raise BadInput(f"documents {docs.uri}: no objects found")
    chunks: list[DocChunk] = []
    for obj in objects:
        for doc_id, text in _documents(obj, docs):
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
    try:
        schema_validator(schema)
    except InvalidSchema as e:
        raise BadInput(f"task.outputSchema at {e.where}: not a valid JSON Schema: {e.message}") from e
    if schema.get("type") not in (None, "object"):
        raise BadInput("task.outputSchema: records are JSON objects, so its type must be 'object'")

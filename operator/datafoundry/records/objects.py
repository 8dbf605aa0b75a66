"""What a URI names: one object, or every data object under a prefix (s3:// or file://).

A prefix stands for its data objects in key order. Names starting with `_` or `.` are markers
and temporary files, never data (`_SUCCESS`, `_DONE.json`, `.keep`, `.tmp-...`), as Hadoop and
Spark write and skip them. A URI that names one object exactly stands for that object, whatever
its name. Every URI of a job uses the output's connection settings (`env`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from datafoundry.pipeline.contract import BadInput
from datafoundry.records.compression import reader
from datafoundry.storage import ObjectStore, open_store, split_uri


@dataclass(frozen=True)
class SourceObject:
    """One data object: the store it lives in, its key there, and its full URI (for messages)."""

    store: ObjectStore
    key: str
    uri: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def is_data_object(key: str) -> bool:
    """False for markers and temporary files: a last path segment that is empty or starts with `_` or `.`."""
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
        return [SourceObject(store, k, f"s3://{bucket}/{k}") for k in store.list(below) if is_data_object(k)]
    path = Path(prefix).expanduser().resolve()
    if path.is_file():
        store = open_store(f"file://{path.parent}")
        return [SourceObject(store, path.name, f"file://{path}")]
    if path.is_dir():
        store = open_store(f"file://{path}")
        return [SourceObject(store, k, f"file://{path / k}") for k in store.list("") if is_data_object(k)]
    return []


def open_uri(uri: str, what: str, env: Mapping[str, str]) -> IO[bytes]:
    """A raw stream of the one object `uri` names (close it); BadInput naming `what` when there is none."""
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


@contextmanager
def content(stream: IO[bytes], name: str) -> Iterator[Callable[[int], bytes]]:
    """`read(n)` of a stream's content, decompressed by the object's name; the stream closes on exit."""
    with closing(stream):
        yield reader(stream, name)


def open_object(obj: SourceObject) -> IO[bytes]:
    """A raw stream of a resolved object; BadInput when it went away since it was listed."""
    stream = obj.store.open(obj.key)
    if stream is None:
        raise BadInput(f"{obj.uri}: object disappeared while reading")
    return stream

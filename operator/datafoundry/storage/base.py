"""The object-store interface the operator and workers use, and `open_store` to pick one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import BinaryIO, Protocol


class ObjectStore(Protocol):
    """Keys are relative to the store's root prefix; writes of one key are atomic."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def open(self, key: str) -> BinaryIO | None:
        """A stream of the object's bytes (read it in pieces; close it), or None when it does not exist."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix`, in lexicographic order."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many were deleted."""

    def uri(self, key: str) -> str:
        """The full URI of `key` (for manifests and status)."""


def split_uri(uri: str) -> tuple[str, str, str]:
    """("s3", bucket, prefix) or ("file", "", path) of an s3:// or file:// URI."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"{uri!r}: no bucket")
        return "s3", bucket, prefix.strip("/")
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        if not path:
            raise ValueError(f"{uri!r}: no path")
        return "file", "", path
    raise ValueError(f"{uri!r}: only s3:// and file:// URIs are supported")


def open_store(uri: str, env: Mapping[str, str] | None = None) -> ObjectStore:
    """A store rooted at `uri`; S3 settings come from `env` (default: the process environment)."""
    scheme, bucket, prefix = split_uri(uri)
    if scheme == "s3":
        from datafoundry.storage.s3 import S3Store

        return S3Store(bucket, prefix, env=env)
    from datafoundry.storage.local import FileStore

    return FileStore(prefix)

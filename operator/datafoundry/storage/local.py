"""file:// storage for local runs: a directory tree, with atomic writes by rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class FileStore:
    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise ValueError(f"key {key!r} escapes the store root {self.root}")
        return path

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def open(self, key: str) -> BinaryIO | None:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return
        keys = []
        for path in start.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        base = self._path(prefix)
        if base.is_dir() and base != self.root:
            shutil.rmtree(base, ignore_errors=True)
        parent = base.parent
        while parent != self.root and self.root in parent.parents:  # folders the prefix emptied, as in S3
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return len(keys)

    def uri(self, key: str) -> str:
        return f"file://{self._path(key)}"

"""Build a model directory once into the cache: in a temporary sibling, renamed into place when
complete (a marker file written last), so a crash never leaves a half-built model that looks done.
Shared by the hack/make-*-model.py scripts."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = ".datafoundry-complete"


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def build(out: Path, make: Callable[[Path], None], marker: dict[str, Any]) -> Path:
    """``out`` when complete; else ``make(tmp)`` builds into a fresh directory that becomes ``out``."""
    if is_complete(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        make(tmp)
        for path in [tmp, *tmp.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # mkdtemp is 0700; a model is not secret
        (tmp / MARKER).write_text(json.dumps(marker) + "\n")
        if out.exists() and not is_complete(out):
            shutil.rmtree(out)  # a stale, incomplete directory (not created by a rename here)
        try:
            tmp.rename(out)
        except OSError:
            if not is_complete(out):  # lost a race only if the winner is complete
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(doc: str | None, default_out: Callable[[], Path], make: Callable[[Path], Path],
         argv: list[str] | None = None) -> int:
    """``--out DIR`` (default: the cache); builds the model and prints its directory."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--out", type=Path, default=None, help="model directory (default: cache)")
    args = parser.parse_args(argv)
    out: Path = (args.out or default_out()).expanduser().resolve()
    make(out)
    sys.stdout.write(f"{out}\n")
    return 0

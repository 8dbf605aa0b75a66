"""`manifest.json`: the commit point of a published dataset.

It is written last: every object it names (data shards, the card) exists and has the sha256 it
lists. Timings are the only part that differs between two runs of the same publish.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

MANIFEST_KIND = "DatasetManifest"
MANIFEST_VERSION = "datafoundry.io/v1alpha1"


def images_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Image references (ideally digests) the pods were given: `DATAFOUNDRY_GENERATOR_IMAGE`,
    `DATAFOUNDRY_FILTER_IMAGE`, and `DATAFOUNDRY_IMAGE_DIGESTS` (JSON object or `name=ref,...`)."""
    images = {}
    for name in ("generator", "filter"):
        ref = env.get(f"DATAFOUNDRY_{name.upper()}_IMAGE")
        if ref:
            images[name] = ref
    raw = env.get("DATAFOUNDRY_IMAGE_DIGESTS", "").strip()
    if raw.startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            images.update({str(k): str(v) for k, v in json.loads(raw).items()})
    elif raw:
        for pair in raw.split(","):
            name, sep, ref = pair.partition("=")
            if sep and name.strip() and ref.strip():
                images[name.strip()] = ref.strip()
    return images


def span(starts: list[datetime | None], ends: list[datetime | None]) -> dict[str, Any] | None:
    """{startedAt, finishedAt, seconds} over a stage's shards (None when nothing is known)."""
    s = [t for t in starts if t is not None]
    e = [t for t in ends if t is not None]
    if not s or not e:
        return None
    first, last = min(s), max(e)
    return {"startedAt": first.isoformat(), "finishedAt": last.isoformat(),
            "seconds": round((last - first).total_seconds(), 3)}


def encode(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

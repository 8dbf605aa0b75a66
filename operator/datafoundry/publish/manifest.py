"""`manifest.json`: the commit point of a published dataset.

It is written last: every object it names (data shards, the card) exists and has the sha256 it
lists. Timings are the only part that differs between two runs of the same publish.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from datafoundry.pipeline.contract import ENV_GPU_HOURS, ENV_IMAGES

MANIFEST_KIND = "DatasetManifest"
MANIFEST_VERSION = "datafoundry.io/v1alpha1"


def gpu_hours_from_env(env: Mapping[str, str]) -> float | None:
    """The generator pods' GPU-hours the operator counted (`DATAFOUNDRY_GPU_HOURS`); None outside the
    operator (`datafoundry run` counts none) or when the value is not a non-negative number."""
    try:
        hours = float(env.get(ENV_GPU_HOURS, ""))
    except ValueError:
        return None
    return hours if math.isfinite(hours) and hours >= 0 else None


def images_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Image references (with digests when the operator was configured with them) that the operator
    gave the publish pod: `DATAFOUNDRY_OPERATOR_IMAGE`, `DATAFOUNDRY_GENERATOR_IMAGE` (the job's own
    `spec.generator.image` when set), `DATAFOUNDRY_FILTER_IMAGE`, and `DATAFOUNDRY_IMAGE_DIGESTS`
    (JSON object or `name=ref,...`, for more)."""
    images = {}
    for name, var in ENV_IMAGES.items():
        ref = env.get(var)
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


#: Per eval set and in total: how its items are matched (from the filter shards), what was found.
DECONTAMINATION_COUNTS = ("items", "indexed", "shortItems", "exactOnlyItems", "emptyItems", "matchedItems", "records")


def merge_decontamination(reports: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """The manifest's `decontamination`, from the filter shards' reports (None: no such filter).

    Records per benchmark add up over shards; matched item ids are united; the eval set counts
    (items, indexed, shortItems, exactOnlyItems, emptyItems) are the same on every shard (each
    reads every eval set) and taken once. `evalSets` adds `matchedItems` and `records` to them;
    `totals` sums `evalSets` (absent when no shard ran the filter).
    """
    records: Counter[str] = Counter()
    items: dict[str, set[str]] = {}
    sets: dict[str, dict[str, int]] = {}
    options: dict[str, Any] = {}
    ran = False
    for report in reports:
        if not report:
            continue
        ran = True
        options = {k: report[k] for k in ("ngram", "minPhraseWords") if k in report}
        records.update(report.get("recordsByBenchmark", {}))
        for bench, ids in report.get("items", {}).items():
            items.setdefault(bench, set()).update(ids)
        for bench, counts in report.get("evalSets", {}).items():
            sets.setdefault(bench, {k: int(v) for k, v in counts.items()})
    out: dict[str, Any] = {
        **options,
        "recordsByBenchmark": dict(sorted(records.items())),
        "items": {b: sorted(ids) for b, ids in sorted(items.items())},
    }
    if ran:
        per_set = {}
        for bench in sorted(sets.keys() | records.keys() | items.keys()):
            counts = {k: sets.get(bench, {}).get(k, 0) for k in DECONTAMINATION_COUNTS[:5]}
            per_set[bench] = {**counts, "matchedItems": len(items.get(bench, ())), "records": records[bench]}
        out["evalSets"] = per_set
        out["totals"] = {k: sum(c[k] for c in per_set.values()) for k in DECONTAMINATION_COUNTS}
    return out


def encode(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

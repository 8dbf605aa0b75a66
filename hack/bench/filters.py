#!/usr/bin/env python3
"""Filter benchmark: records/s per core of the default filter chain, on natural English.

    .venv/bin/python hack/bench/filters.py [--chain-records 20000] [--profile 25] [--json OUT]

The chain is the product's (built from a spec by workers.recipe_filters, see CHAIN_FILTERS) and runs
over natural English: the report benchmark's records of recombined real sentences (hack/bench/report.py,
from tests/unit/filters/corpora/real/en). Records/s per core = records / CPU seconds of one process.
MinHash near-duplicate detection side by side with DataTrove is hack/bench/minhash.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the default filter chain ------------------------------------------------------------------


#: The chain the benchmark measures: every per-record and dedup filter of the product at its spec
#: defaults (as examples/quickstart.yaml and the report benchmark's job list them). A job without
#: spec.filters gets no filtering at all, so "the default chain" is this list, built as the filter
#: worker builds it (workers.recipe_filters.build_chain), not by hand.
CHAIN_FILTERS: list[dict[str, Any]] = [
    {"type": "length", "minChars": 20}, {"type": "language"}, {"type": "quality"}, {"type": "pii"},
    {"type": "exactDedup"}, {"type": "minhash"},
]


def chain_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Natural English records: the report benchmark's recombined real sentences (hack/bench/report.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report import Corpus  # type: ignore[import-not-found]

    corpus = Corpus(seed)
    return [corpus.record(i % 4, i // 4) for i in range(n)]


def default_chain() -> Any:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.workers.recipe_filters import build_chain

    spec = DataFoundryJobSpec.model_validate({
        "target": {"records": 1}, "input": {"uris": ["file:///in"]}, "output": {"uri": "file:///out"},
        "filters": CHAIN_FILTERS,
    })
    return build_chain(spec, {})


def bench_chain(records: list[dict[str, Any]], profile: int = 0) -> dict[str, Any]:
    from datafoundry.filters import LanguageFilter, MinHashFilter
    from datafoundry.filters.base import Observer

    chain = default_chain()
    next(f for f in chain.filters if isinstance(f, LanguageFilter)).apply({"text": "warm up the model once"})
    c0, t0 = cpu_seconds(), time.perf_counter()
    kept = sum(1 for _ in chain.run(records))
    next(f for f in chain.filters if isinstance(f, MinHashFilter)).finish()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    per_filter = {}
    for f in default_chain().filters:  # each filter alone, fresh, over the same records (CPU ms per record)
        if isinstance(f, LanguageFilter):
            f.apply({"text": "warm up the model once"})
        c1 = cpu_seconds()
        for r in records:
            f.apply(r)
            if isinstance(f, Observer):  # MinHash works on the records kept: signatures in batches
                f.observe(r)
        if isinstance(f, MinHashFilter):
            f.finish()
        per_filter[f.name] = round((cpu_seconds() - c1) / len(records) * 1000, 4)
    out = {"records": len(records), "kept": kept, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
           "records_per_s": round(len(records) / wall, 1), "records_per_cpu_s": round(len(records) / cpu, 1),
           "dropped_by": {k: v for k, v in chain.funnel.dropped_by.items() if v},
           "cpu_ms_per_record_by_filter": per_filter, "filters": [type(f).__name__ for f in chain.filters]}
    if profile:
        out["profile_top"] = profile_chain(records, profile)
    return out


def profile_chain(records: list[dict[str, Any]], top: int) -> list[str]:
    """cProfile of a fresh chain over the records: the `top` entries by own time."""
    import cProfile
    import io
    import pstats

    chain = default_chain()
    prof = cProfile.Profile()
    prof.enable()
    for _ in chain.run(records):
        pass
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return [line for line in buf.getvalue().splitlines() if line.strip()][-top - 1 :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain-records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile the chain (cProfile) and report its top N entries by own time")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    out: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "processes": 1}}
    out["default_chain"] = bench_chain(chain_records(args.chain_records, args.seed), args.profile)
    print(f"default chain: {out['default_chain']['records_per_cpu_s']} records/s per core", flush=True)
    return finish(out, args.json)


def finish(out: dict[str, Any], path: Path | None) -> int:
    print(json.dumps(out, indent=1))
    if path:
        path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Quality report benchmark: what the report adds to the publish stage, in seconds and in memory.

    .venv/bin/python hack/bench/report.py [--records 200000] [--repeats 3] [--profile] [--json OUT]

The issue's budget: the report adds at most 15% to the publish stage on 200k records, with memory
bounded. `withinBudget` says whether it holds; the script exits 0 either way (benchmarks report,
they do not gate).

Corpus (seeded): `--records` instruction records recombined from the sentences of the real English
corpora of the filter tests (tests/unit/filters/corpora/real/en: handwritten answers and real
SmolLM2 output, split into prose sentences; code blocks and tables left out). A response is 2-8 of
those sentences (in paragraphs), an instruction one of the corpora's real instructions, half of
them with one more sentence of context; no two responses are the same. Each record carries the
`meta` the generate worker writes (strategy, taxonomy source, sampling, tokens) and a judge score,
so it has the shape (~1 KB) and the language of real output: the report's language and stop-word
figures, and its plots (lengths, judge scores, coverage, funnel), are those of real data.

What is timed, and why this way: the real `publish_dataset` (datafoundry.workers.publish), in
process, on a file:// store into which the records are staged exactly as the filter and dedup
workers leave them for publish (filter parts of 10,000 records per shard, summaries and `_DONE`
objects of generate, filter and dedup, and the dedup pass's drops: 1% of the staged records are
planted exact and near copies that the drops remove). So the stage is measured as it runs in its
pod: reading the parts, selecting, conforming, splitting, encoding JSONL, sha256, puts (with the
file store's fsync), the card and the manifest. A copy of the worker's steps in this script could
drift from the worker; the worker itself cannot.

  arm A, without the report: the same worker with `_quality_report` replaced (monkeypatched, in
        this script only) by a stub that computes and writes nothing, as publish was before the
        report; the card then has no quality section and the manifest no quality object.
  arm B, with the report: the worker unchanged (ReportBuilder.add per record, finish, quality.json
        and the PNG plots, their puts), with timers around the report's parts.

Each run is a fresh subprocess on a fresh hard-linked copy of the staged store (imports, the
language model and matplotlib load inside the stage when the stage loads them, as in a pod); runs
alternate A, B, A, B... and the fastest of each arm is kept (wall seconds: the budget's measure;
CPU seconds too, steadier where other work shares the machine). Peak memory is the subprocess's
`ru_maxrss` (the whole worker: publish itself holds all selected records in memory). The report's
seconds are split into its context, the add loop, finish (and its parts), objects (the matplotlib
import, the plots, quality.json) and the puts; garbage-collection pauses are summed (gc.callbacks),
in the whole stage and inside the report, since a full collection walks every record publish holds.
One more B run, untimed, measures the report part alone with tracemalloc; `--profile` (or an
overhead over budget) adds one under cProfile and lists where the report's time goes.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

CORPORA = REPO / "tests" / "unit" / "filters" / "corpora" / "real" / "en"
BUDGET = 0.15
SHARDS = 4
PART_RECORDS = 10_000  # as the filter worker writes its parts
DUP_SHARE = 0.01  # staged records the dedup drops remove (half exact, half near copies)
UID = "00000000-0000-4000-8000-00000000be9c"
STRATEGIES = ("selfInstruct", "evolInstruct", "persona", "taxonomy")
TAXONOMY: list[dict[str, Any]] = [
    {"name": "software", "subtopics": ["kubernetes", "git", "python", "databases"]},
    {"name": "science", "subtopics": ["physics", "biology"]},
    {"name": "everyday life", "subtopics": ["cooking", "travel", "health"]},
    {"name": "writing"},
]


# -- corpus ---------------------------------------------------------------------------------------


def real_texts() -> tuple[list[str], list[str]]:
    """(instructions, assistant texts) of every record of the real English corpora."""
    instructions, answers = [], []
    for path in sorted(CORPORA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if "messages" in record:
                instructions += [m["content"] for m in record["messages"] if m["role"] == "user"]
                answers += [m["content"] for m in record["messages"] if m["role"] == "assistant"]
            else:
                instructions.append(record["instruction"])
                answers.append(record["response"])
    return instructions, answers


def sentences(texts: list[str]) -> list[str]:
    """The prose sentences of `texts`: no code blocks or tables, list markers stripped, only whole
    sentences (a capital first, a full stop, question or exclamation mark last) in Latin script."""
    out: list[str] = []
    for text in texts:
        for para in re.split(r"\n\s*\n", text):
            if "```" in para or "|" in para:
                continue
            for line in para.splitlines():
                line = re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", line).strip()
                for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", line):
                    s = s.strip()
                    if (25 <= len(s) <= 400 and s[0].isupper() and s[-1] in ".!?" and s.count("`") % 2 == 0
                            and all(ord(c) < 0x2E80 for c in s)):
                        out.append(s)
    return sorted(set(out))


def record_id(shard: int, index: int) -> str:
    """As the generate worker makes them: a hash of the recipe, the round and the position."""
    return hashlib.sha256(f"bench:0:{shard * 1_000_000 + index}".encode()).hexdigest()[:24]


class Corpus:
    """Seeded records of recombined real sentences (see the module docstring)."""

    def __init__(self, seed: int) -> None:
        instructions, answers = real_texts()
        self.instructions = sorted(set(instructions))
        self.sentences = sentences(answers)
        self.rng = random.Random(seed)
        self.seen: set[bytes] = set()

    def response(self) -> str:
        while True:
            chosen = self.rng.sample(self.sentences, self.rng.randint(2, 8))
            paras, i = [], 0
            while i < len(chosen):
                n = self.rng.randint(2, 4)
                paras.append(" ".join(chosen[i : i + n]))
                i += n
            text = "\n\n".join(paras)
            digest = hashlib.blake2b(text.encode(), digest_size=12).digest()
            if digest not in self.seen:
                self.seen.add(digest)
                return text

    def record(self, shard: int, index: int) -> dict[str, Any]:
        rng = self.rng
        instruction = rng.choice(self.instructions)
        if rng.random() < 0.5:
            instruction = f"{rng.choice(self.sentences)} {instruction}"
        response = self.response()
        strategy = rng.choice(STRATEGIES)
        meta: dict[str, Any] = {"strategy": strategy}
        if strategy == "taxonomy":
            topic = rng.choice(TAXONOMY)
            subs = topic.get("subtopics") or []
            meta["source"] = {"topic": topic["name"], **({"subtopic": rng.choice(subs)} if subs else {})}
        position = shard * 1_000_000 + index
        meta.update({
            "model": "org/tiny", "sampling": {"temperature": 0.8, "maxTokens": 512, "seed": rng.getrandbits(31)},
            "job": "bench", "recipeHash": "0" * 16, "round": 0, "shard": shard, "chunk": index // 64,
            "index": index, "position": position, "promptTokens": 40 + len(instruction) // 4,
            "completionTokens": len(response) // 4 + 1,
            "judge": {"score": rng.choices([7, 8, 9, 10], weights=[3, 4, 2, 1])[0], "model": "org/tiny"},
        })
        return {"id": record_id(shard, index), "instruction": instruction, "response": response, "meta": meta}

    def near_copy(self, record: dict[str, Any], shard: int, index: int) -> dict[str, Any]:
        """The same record but for one sentence of its response (what MinHash clusters)."""
        parts = record["response"].split(". ")
        parts[self.rng.randrange(len(parts))] = self.rng.choice(self.sentences).rstrip(".!?")
        return {**record, "id": record_id(shard, index), "response": ". ".join(parts)}


# -- the job and its staged objects -----------------------------------------------------------------


def job_spec(records: int, uri: str) -> dict[str, Any]:
    """A generation job with every part the report reads: domain, seeds, taxonomy, strategies, filters
    (with a judge threshold), language."""
    seeds = [{"instruction": "How do I roll back a Kubernetes deployment to the previous version?",
              "response": "Use `kubectl rollout undo deployment/web`."},
             {"instruction": "Is a tomato a fruit or a vegetable?",
              "response": "Botanically, a tomato is a fruit because it develops from the flower and contains seeds."}]
    return {
        "task": {"type": "instruction", "language": "en", "seeds": {"inline": seeds}, "taxonomy": TAXONOMY,
                 "domain": "General-knowledge and software how-to questions answered by an assistant"},
        "target": {"records": records},
        "generator": {"model": "org/tiny", "shards": SHARDS, "strategies": [{"name": s} for s in STRATEGIES]},
        "filters": [{"type": "length", "minChars": 20}, {"type": "language"}, {"type": "quality"},
                    {"type": "pii"}, {"type": "exactDedup"}, {"type": "minhash"}, {"type": "judge", "minScore": 7}],
        "output": {"uri": uri},
        "seed": 7,
    }


def stage(root: Path, records: int, seed: int) -> dict[str, Any]:
    """Write what generate, filter and dedup leave for publish under `root` (a file:// store)."""
    from datafoundry.api.stages import Stage
    from datafoundry.pipeline import layout
    from datafoundry.pipeline.contract import Progress, add_strategy_counts
    from datafoundry.storage import open_store
    from datafoundry.workers import staging

    store = open_store(f"file://{root}")
    corpus = Corpus(seed)
    now = datetime.now(UTC)
    per_shard = [records // SHARDS + (1 if k < records % SHARDS else 0) for k in range(SHARDS)]
    drops: dict[str, list[int]] = {}
    examples: list[list[list[Any]]] = []
    exact_total = near_total = 0
    strategies_total: dict[str, dict[str, int]] = {}
    rejected_total: dict[str, int] = {}
    nbytes = generated_total = 0
    for k, kept in enumerate(per_shard):
        rng = random.Random(seed * 1000 + k)
        extra = round(kept * DUP_SHARE)
        originals = set(rng.sample(range(kept), extra))
        # planted copies, each right after its original; the drops name them
        shard_records: list[dict[str, Any]] = []
        dropped: list[int] = []
        for i in range(kept):
            shard_records.append(corpus.record(k, i))
            if i in originals:
                original, j = shard_records[-1], len(dropped)
                if j % 2 == 0:
                    copy = {**original, "id": record_id(k, kept + j)}
                else:
                    copy = corpus.near_copy(original, k, kept + j)
                    if len(examples) < 2:
                        examples.append([[staging.shard_id(0, k), len(shard_records) - 1],
                                         [staging.shard_id(0, k), len(shard_records)]])
                dropped.append(len(shard_records))
                shard_records.append(copy)
        drops[staging.shard_id(0, k)] = dropped
        exact_total += (extra + 1) // 2
        near_total += extra // 2
        parts: list[dict[str, Any]] = []
        for i in range(0, len(shard_records), PART_RECORDS):
            chunk = shard_records[i : i + PART_RECORDS]
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk).encode("utf-8")
            nbytes += len(data)
            key = layout.part_key(UID, Stage.FILTER, 0, k, len(parts))
            store.put(key, data, "application/x-ndjson")
            parts.append({"key": key, "records": len(chunk)})
        rejected = {"length": kept // 400, "language": kept // 500, "quality": kept // 60, "judge": kept // 12}
        seen = len(shard_records) + sum(rejected.values())
        generated_total += seen
        funnel = {"seen": seen, "kept": len(shard_records),
                  "droppedBy": {"length": {"too_short": rejected["length"]},
                                "language": {"language:de": rejected["language"]},
                                "quality": {"duplicate_lines": rejected["quality"] // 2,
                                            "refusal": rejected["quality"] - rejected["quality"] // 2},
                                "judge": {"below_min_score": rejected["judge"]}},
                  "modifiedBy": {"pii": kept // 200}}
        summary = {"parts": parts, "records": len(shard_records), "funnel": funnel,
                   # the language filter counts what it keeps (length and language come first in the chain)
                   "stats": {"pii": {"email": kept // 300, "phone": kept // 600},
                             "language": {"en": len(shard_records) + rejected["quality"] + rejected["judge"]}},
                   "decontamination": None,
                   "malformed": {"malformed": 0}, "inputs": [],
                   "minhash": {"name": "minhash", "threshold": 0.8, "numPerm": 128, "bands": 16},
                   "exactDedup": {"name": "exactDedup"}}
        staging.put_json(store, staging.filter_key(UID, 0, k, staging.SUMMARY), summary)
        strategies = {s: {"prompts": seen // 4 + 40, "records": seen // 4, "truncated": seen // 50,
                          "json_parse_error": 3} for s in STRATEGIES}
        strategies_total = add_strategy_counts(strategies_total, strategies)
        for name, n in rejected.items():
            rejected_total[name] = rejected_total.get(name, 0) + n
        gen = Progress(stage="generate", round=0, shard=k, state="done", generated=seen, accepted=seen,
                       prompt_tokens=60 * seen, completion_tokens=250 * seen, strategies=strategies,
                       started_at=now, updated_at=now)
        store.put(layout.done_key(UID, Stage.GENERATE, 0, k), gen.to_json().encode(), "application/json")
        filt = Progress(stage="filter", round=0, shard=k, state="done", accepted=len(shard_records),
                        rejected=rejected, started_at=now, updated_at=now)
        store.put(layout.done_key(UID, Stage.FILTER, 0, k), filt.to_json().encode(), "application/json")
    near = {"name": "minhash", "duplicates": near_total, "clusters": near_total, "clusterSizes": {"2": near_total},
            "threshold": 0.8, "numPerm": 128, "bands": 16, "examples": examples}
    staging.put_json(store, staging.drops_key(UID, 0), {
        "exact": {"name": "exactDedup", "duplicates": exact_total}, "nearDup": near, "drops": drops, "round": 0,
        "blocks": [staging.shard_id(0, k) for k in range(SHARDS)], "accepted": records})
    dedup = Progress(stage="dedup", round=0, shard=0, state="done", generated=generated_total, accepted=records,
                     rejected={**rejected_total, "exactDedup": exact_total, "minhash": near_total},
                     prompt_tokens=60 * generated_total, completion_tokens=250 * generated_total,
                     strategies=strategies_total, started_at=now, updated_at=now)
    store.put(layout.done_key(UID, Stage.DEDUP, 0, 0), dedup.to_json().encode(), "application/json")
    return {"records": records, "staged": records + exact_total + near_total, "bytes": nbytes,
            "bytes_per_record": round(nbytes / (records + exact_total + near_total)),
            "sentences": len(corpus.sentences), "instructions": len(corpus.instructions), "seed": seed}


# -- one arm, in its own process ------------------------------------------------------------------


def wrap(owner: Any, name: str, times: dict[str, float], label: str) -> None:
    """Replace owner.name with a version that adds its seconds to times[label] (and notes when it started)."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        times.setdefault(f"{label}_start", time.perf_counter())
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times[label] = times.get(label, 0.0) + time.perf_counter() - t0

    setattr(owner, name, timed)


def around(owner: Any, name: str, hook: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    setattr(owner, name, hook(getattr(owner, name)))


def run_arm(arm: str, root: Path, records: int, result: Path) -> None:
    """Publish the staged records once (arm A, B, B-tracemalloc or B-profile); write the figures to `result`."""
    os.environ["DATAFOUNDRY_TERMINATION_LOG"] = str(root.parent / f"termination-{arm}")
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.api.stages import Stage
    from datafoundry.pipeline.plan import JobRef, build_plan
    from datafoundry.report import build as quality
    from datafoundry.report import job as report_job
    from datafoundry.report import plots
    from datafoundry.storage import open_store
    from datafoundry.workers import publish
    from datafoundry.workers.common import WorkerContext

    spec = job_spec(records, f"file://{root}")
    plan = build_plan(JobRef(name="bench", namespace="bench", uid=UID, generation=1), spec)
    ctx = WorkerContext(stage=Stage.PUBLISH, plan=plan, spec=DataFoundryJobSpec.model_validate(plan.spec), round=0,
                        shard=0, store=open_store(spec["output"]["uri"]))
    times: dict[str, float] = {}
    out: dict[str, Any] = {"arm": arm}
    if arm == "A":  # publish as it was before the report: nothing computed, nothing written
        setattr(publish, "_quality_report", lambda *args, **kwargs: (None, [None]))  # noqa: B010
        setattr(quality, "summary", lambda report: {})  # noqa: B010
    else:
        wrap(publish, "_quality_report", times, "report")
        wrap(report_job, "context", times, "context")
        wrap(quality.ReportBuilder, "finish", times, "finish")
        wrap(quality, "objects", times, "objects")
        wrap(plots, "render", times, "plots")
        wrap(plots, "available", times, "matplotlib")
        for part in ("_size", "_fields", "_diversity", "_domain", "_coverage", "_process"):
            wrap(quality.ReportBuilder, part, times, f"finish.{part[1:]}")
        wrap(quality, "languages", times, "finish.process.languages")
    if arm == "B-tracemalloc":
        import tracemalloc

        def traced(original: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                tracemalloc.start()
                try:
                    return original(*args, **kwargs)
                finally:
                    out["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
                    tracemalloc.stop()
            return run

        around(publish, "_quality_report", traced)
    if arm == "B-profile":
        import cProfile
        import io
        import pstats

        def profiled(original: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                profile = cProfile.Profile()
                try:
                    return profile.runcall(original, *args, **kwargs)
                finally:
                    stats = pstats.Stats(profile, stream=io.StringIO())
                    rows = []  # (function x calls, own seconds, cumulative seconds)
                    for (file, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
                        where = f"{Path(file).name}:{line}({func})" if line else func
                        rows.append((f"{where} x{calls}", round(tottime, 3), round(cumtime, 3)))
                    # as {function: seconds}, so that run_all's table shows one row per function
                    out["profile_cumulative_s"] = {f: cum for f, _, cum in sorted(rows, key=lambda r: -r[2])[:25]}
                    out["profile_own_s"] = {f: own for f, own, _ in sorted(rows, key=lambda r: -r[1])[:15]}
            return run

        around(publish, "_quality_report", profiled)

    # Garbage collection: its pauses in the whole stage, and those that fell inside the report part.
    gc_times = {"all": 0.0, "report": 0.0, "report_full": 0.0, "full": 0.0}
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
            return
        pause = time.perf_counter() - gc_started[0]
        inside = "report_start" in times and "report" not in times
        full = info.get("generation") == 2
        gc_times["all"] += pause
        gc_times["full"] += pause if full else 0.0
        gc_times["report"] += pause if inside else 0.0
        gc_times["report_full"] += pause if inside and full else 0.0

    gc.callbacks.append(on_gc)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    progress = publish.publish_dataset(ctx)
    wall = time.perf_counter() - t0
    gc.callbacks.remove(on_gc)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update({
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "published": progress.accepted,
        "bytes_written": progress.bytes_written,
        "gc_s": round(gc_times["all"], 3),
        "gc_full_s": round(gc_times["full"], 3),
        "objects": sorted(ctx.store.list("")),
    })
    if "report" in times:
        add_loop = times["finish_start"] - (times["context_start"] + times["context"])
        out["report"] = {
            "total_s": round(times["report"], 3),
            "context_s": round(times["context"], 3),
            "add_loop_s": round(add_loop, 3),
            "finish_s": round(times["finish"], 3),
            "objects_s": round(times["objects"], 3),
            "matplotlib_import_s": round(times.get("matplotlib", 0.0), 3),
            "plots_render_s": round(times.get("plots", 0.0), 3),
            "puts_s": round(times["report"] - times["context"] - add_loop - times["finish"] - times["objects"], 3),
            "gc_s": round(gc_times["report"], 3),
            "gc_full_s": round(gc_times["report_full"], 3),
            "finish_parts_s": {k.split(".", 1)[1]: round(v, 3) for k, v in sorted(times.items())
                               if k.startswith("finish.") and not k.endswith("_start")},
        }
    result.write_text(json.dumps(out))


# -- the benchmark ----------------------------------------------------------------------------------


def link_copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=os.link)


def child(arm: str, base: Path, work: Path, records: int, n: int) -> dict[str, Any]:
    run_dir = work / f"{arm}-{n}"
    link_copy(base, run_dir / "out")
    result = run_dir / "result.json"
    try:
        subprocess.run([sys.executable, __file__, "--arm", arm, "--root", str(run_dir / "out"),
                        "--records", str(records), "--result", str(result)], check=True, cwd=REPO)
        figures: dict[str, Any] = json.loads(result.read_text())
        return figures
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    fastest = min(runs, key=lambda r: r["wall_s"])
    return {"wall_s": fastest["wall_s"], "cpu_s": fastest["cpu_s"], "gc_s": fastest["gc_s"],
            "gc_full_s": fastest["gc_full_s"], "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "runs_wall_s": [r["wall_s"] for r in runs], "runs_cpu_s": [r["cpu_s"] for r in runs]}


def arms(args: argparse.Namespace, base: Path, work: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for n in range(args.repeats):
        for arm in ("A", "B"):
            yield arm, child(arm, base, work, args.records, n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each arm (alternating); the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc run of the report")
    parser.add_argument("--profile", action="store_true", help="profile the report (also done when over budget)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        run_arm(args.arm, args.root, args.records, args.result)
        return 0

    work = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        base = work / "staged"
        t0 = time.perf_counter()
        corpus = stage(base, args.records, args.seed)
        corpus["generate_s"] = round(time.perf_counter() - t0, 2)
        print(f"corpus: {corpus['staged']} records staged ({corpus['bytes_per_record']} bytes each), "
              f"{corpus['records']} to publish", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        for arm, figures in arms(args, base, work):
            runs[arm].append(figures)
            print(f"arm {arm}: {figures['wall_s']} s, peak RSS {figures['peak_rss_mib']} MiB", flush=True)
        a, b = best(runs["A"]), best(runs["B"])
        fastest_b = min(runs["B"], key=lambda r: r["wall_s"])
        report = dict(fastest_b["report"])
        overhead = b["wall_s"] / a["wall_s"] - 1
        out: dict[str, Any] = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "processes": 1},
            "corpus": corpus,
            "publish_without_report": a,
            "publish_with_report": b,
            "report": report,
            "report_share_of_publish_with_report": round(report["total_s"] / fastest_b["wall_s"], 4),
            "overhead": round(overhead, 4),
            "overhead_pct": round(100 * overhead, 1),
            "overhead_cpu_pct": round(100 * (b["cpu_s"] / a["cpu_s"] - 1), 1),
            "rss_added_mib": round(b["peak_rss_mib"] - a["peak_rss_mib"], 1),
            "budget": BUDGET,
            "withinBudget": overhead <= BUDGET,
            "objects_written": {"A": len(runs["A"][0]["objects"]), "B": len(runs["B"][0]["objects"])},
        }
        if not args.no_tracemalloc:
            traced = child("B-tracemalloc", base, work, args.records, 0)
            report["tracemalloc_peak_mib"] = traced["tracemalloc_peak_mib"]
            print(f"report part alone: tracemalloc peak {traced['tracemalloc_peak_mib']} MiB", flush=True)
        if args.profile or not out["withinBudget"]:
            profiled = child("B-profile", base, work, args.records, 0)
            # cProfile's seconds (inflated by the profiler); a collection's pause counts to whatever allocated
            out["report_profile"] = {"cumulative_s": profiled["profile_cumulative_s"],
                                     "own_s": profiled["profile_own_s"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=1))
    print(f"publish: {a['wall_s']} s without the report, {b['wall_s']} s with it: {out['overhead_pct']:+.1f}% "
          f"(budget {BUDGET:.0%}: {'met' if out['withinBudget'] else 'NOT met'}); peak RSS {a['peak_rss_mib']} -> "
          f"{b['peak_rss_mib']} MiB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

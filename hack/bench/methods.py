#!/usr/bin/env python3
"""`make bench-methods`: the generation methods side by side on SmolLM2-135M-Instruct (CPU).

Each method in VARIANTS runs the quickstart job (examples/quickstart.yaml: its domain, seeds,
sampling and filters) with `datafoundry run`, one method at a time, each in its own output folder
under a temporary directory that is removed afterwards. Only the strategy (and what it needs of the
task) changes between methods; every run asks for the same number of records. A method whose
strategy the installed code rejects is skipped, and the reason printed.

Per method it reads the published manifest and quality report and prints one markdown table row:
records, acceptance rate (accepted / prompts sent), distinct-2, Self-BLEU, novelty against the seeds
(median highest ROUGE-L with a seed's prompt, share restating a seed), domain match (median
similarity), mean words per response, wall seconds.

    .venv/bin/python hack/bench/methods.py [--records 40] [--only baseline selfInstruct ...]
        [--out .local/bench/methods.md]   (the JSON goes beside it: methods.json)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"

#: The quickstart domain's taxonomy for the taxonomy method.
TAXONOMY = [
    {"name": "scheduling", "subtopics": ["node selectors and affinity", "taints and tolerations", "pending pods"]},
    {"name": "rollouts", "subtopics": ["rolling updates", "rollbacks", "deployment strategies"]},
    {"name": "probes", "subtopics": ["liveness probes", "readiness probes", "startup probes"]},
    {"name": "resource limits", "subtopics": ["requests and limits", "OOM kills", "CPU throttling"]},
    {"name": "debugging pods", "subtopics": ["CrashLoopBackOff", "logs and events", "exec and ephemeral containers"]},
]

#: method -> the one strategy it runs (name, options) and what it changes in spec.task.
#: baseline is the plain few-shot prompt: Self-Instruct with no pooled examples and no novelty or
#: keyword screening (options the typed strategy options accept; edit here as they change).
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"strategy": "selfInstruct",
                 "options": {"pooledExamples": 0, "maxSimilarity": 1, "excludedKeywords": []}},
    "selfInstruct": {"strategy": "selfInstruct"},
    "evolInstruct": {"strategy": "evolInstruct"},
    "magpie": {"strategy": "magpie"},
    "taxonomy": {"strategy": "taxonomy", "task": {"taxonomy": TAXONOMY}},
    "persona": {"strategy": "persona"},
    "preferencePairs": {"strategy": "preferencePairs", "task": {"type": "preference"}},
}

BATCH_SIZE = 8

COLUMNS = ["method", "records", "acceptance", "distinct-2", "Self-BLEU", "novelty p50", "copies seed",
           "domain p50", "words/response", "generate s", "wall s"]


def spec_for(base: dict[str, Any], variant: dict[str, Any], records: int) -> dict[str, Any]:
    """The quickstart manifest with one strategy and `records` records; everything else kept."""
    doc = copy.deepcopy(base)
    spec = doc["spec"]
    spec["target"]["records"] = records
    strategy: dict[str, Any] = {"name": variant["strategy"]}
    if variant.get("options"):
        strategy["options"] = variant["options"]
    spec["generator"]["strategies"] = [strategy]
    # Small chunks: Self-Instruct's pool grows chunk by chunk (a chunk's prompts see the earlier chunks'
    # instructions); the other methods' records do not depend on the chunk size.
    spec["generator"]["batchSize"] = BATCH_SIZE
    spec["task"].update(copy.deepcopy(variant.get("task") or {}))
    return doc


def rejection(doc: dict[str, Any]) -> str | None:
    """Why the installed code rejects the manifest (None when it validates)."""
    from pydantic import ValidationError

    from datafoundry.api.errors import field_errors
    from datafoundry.api.spec import DataFoundryJobSpec

    try:
        DataFoundryJobSpec.model_validate(doc["spec"])
    except ValidationError as e:
        return "; ".join(str(fe) for fe in field_errors(e, prefix="spec"))
    return None


def model_dir() -> str:
    out = subprocess.run([sys.executable, str(REPO / "hack" / "make-smollm2-model.py")], check=True,
                         capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip().splitlines()[-1]


def response_words(record: dict[str, Any]) -> int | None:
    from datafoundry.strategies import screens

    answer = screens.first_field(record, screens.ANSWER_FIELDS) or screens.last_reply(record)
    return len(screens.words(answer)) if answer is not None else None


def row(name: str, out: Path, wall: float) -> dict[str, Any]:
    manifest = json.loads((out / "manifest.json").read_text())
    quality = json.loads((out / "quality.json").read_text())
    records = [json.loads(line) for shard in manifest["shards"]
               for line in (out / shard["key"]).read_text().splitlines() if line.strip()]
    prompts = sum(int(s.get("prompts", 0)) for s in ((manifest.get("generation") or {}).get("strategies") or {})
                  .values())
    accepted = int((manifest.get("funnel") or {}).get("accepted", 0))
    lengths = [n for r in records if (n := response_words(r)) is not None]
    novelty, domain = quality.get("novelty"), quality.get("domain")
    return {
        "method": name,
        "records": len(records),
        "prompts": prompts,
        "accepted": accepted,
        "acceptance": round(accepted / prompts, 4) if prompts else None,
        "distinct2": quality["diversity"]["distinct2"],
        "selfBleu": quality["diversity"]["selfBleu"]["value"],
        "noveltyP50": novelty["maxRougeLToSeeds"]["p50"] if novelty and novelty["maxRougeLToSeeds"] else None,
        "copiesSeed": novelty["copiesSeed"] if novelty else None,
        "domainP50": domain["similarity"]["p50"] if domain and domain["similarity"] else None,
        "wordsPerResponse": round(sum(lengths) / len(lengths), 1) if lengths else None,
        "generateSeconds": ((manifest.get("timings") or {}).get("generate") or {}).get("seconds"),
        "wallSeconds": round(wall, 1),
        "findings": [f["indicator"] for f in quality["findings"] if f["level"] == "warning"],
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"  # counts and seconds vs ratios
    return str(value)


def markdown(rows: list[dict[str, Any]], skipped: dict[str, str], records: int, model: str) -> str:
    keys = ["method", "records", "acceptance", "distinct2", "selfBleu", "noveltyP50", "copiesSeed", "domainP50",
            "wordsPerResponse", "generateSeconds", "wallSeconds"]
    lines = [f"Generation methods on {Path(model).name} (CPU), quickstart domain and seeds, {records} records each.",
             "", "| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows]
    lines += [f"| {name} | skipped: {why} |" + " |" * (len(COLUMNS) - 2) for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def run_method(name: str, doc: dict[str, Any], model: str, work: Path) -> dict[str, Any] | None:
    """`datafoundry run` in its own folder (its `.local/run` work dir lands there too)."""
    folder = work / name
    folder.mkdir()
    manifest = folder / "job.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = folder / "out"
    cmd = [sys.executable, "-m", "datafoundry.cli", "run", str(manifest), "--output", f"file://{out}",
           "--model", model]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        print(f"{name}: datafoundry run failed ({done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return row(name, out, wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=40, help="records per method (default 40)")
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="run only these methods, in this order")
    parser.add_argument("--out", type=Path, default=REPO / ".local" / "bench" / "methods.md",
                        help="the markdown table (default .local/bench/methods.md); the JSON goes beside it")
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records must be at least 1")
    base = yaml.safe_load(QUICKSTART.read_text())
    model = model_dir()
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as tmp:
        for name in args.only or list(VARIANTS):
            doc = spec_for(base, VARIANTS[name], args.records)
            why = rejection(doc)
            if why is not None:
                skipped[name] = why
                print(f"{name}: skipped, the installed code rejects it: {why}", flush=True)
                continue
            print(f"{name}: running ({args.records} records)", flush=True)
            result = run_method(name, doc, model, Path(tmp))
            if result is None:
                failed.append(name)
                continue
            rows.append(result)
            print(f"{name}: {result['records']} records in {result['wallSeconds']} s", flush=True)
            write(args.out, rows, skipped, failed, args.records, model)  # a stopped run keeps what it measured
    print(write(args.out, rows, skipped, failed, args.records, model))
    return 1 if failed else 0


def write(out: Path, rows: list[dict[str, Any]], skipped: dict[str, str], failed: list[str], records: int,
          model: str) -> str:
    """The markdown table to `out` and the figures as JSON beside it; returns the table."""
    table = markdown(rows, skipped, records, model)
    figures = {"records": records, "model": Path(model).name, "methods": rows, "skipped": skipped, "failed": failed}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    out.with_suffix(".json").write_text(json.dumps(figures, indent=1) + "\n")
    return table


if __name__ == "__main__":
    raise SystemExit(main())

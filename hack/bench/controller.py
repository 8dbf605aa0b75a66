#!/usr/bin/env python3
"""Operator benchmark on the local control plane: apply-to-Succeeded overhead, API requests per
job (from the API server's audit log) and operator RSS idle and with N live jobs.

    .venv/bin/python hack/bench/controller.py [--live-jobs 50] [--jobs 5] [--json OUT]

Starts its own test bed in .local/bench (or reuses LOCAL_DIR if it is up), runs the operator as a
separate process under its least-privilege ServiceAccount, and the test pod runner with the
contract worker (datafoundry.testing.contract_worker), so the numbers are the operator's and the
cluster's, not the data workers'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from datafoundry.api.meta import API_VERSION, KIND
from datafoundry.testing.podrunner import CONTRACT_WORKER, PodRunner
from datafoundry.testing.running_operator import (
    OPERATOR_NS,
    OPERATOR_SA,
    S3_SECRET,
    Operator,
    install_crd,
    prepare_job_namespace,
    setup_operator_rbac,
)
from datafoundry.testing.testbed import S3, connect_local

REPO = Path(__file__).resolve().parents[2]

OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"


def rss_mib(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-g", str(pid)], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split()) / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def audit_count(audit: Path, since_bytes: int) -> tuple[int, dict[str, int]]:
    verbs: dict[str, int] = {}
    with audit.open("rb") as f:
        f.seek(since_bytes)
        for line in f:
            event = json.loads(line)
            if event.get("user", {}).get("username") == OPERATOR_USER and event.get("stage") == "ResponseComplete":
                verbs[event["verb"]] = verbs.get(event["verb"], 0) + 1
    return sum(verbs.values()), verbs


def job_manifest(name: str, s3: S3, prefix: str, records: int = 20) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name},
        "spec": {
            "task": {"domain": "bench", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
            "target": {"records": records, "overgenerate": 1.5},
            "generator": {"model": "org/tiny", "shards": 2},
            "output": {"uri": f"s3://{s3.bucket}/{prefix}{name}", "endpointURL": s3.endpoint_url,
                       "credentials": {"secretRef": {"name": S3_SECRET}}},
        },
    }


def phase(custom: k8s.CustomObjectsApi, ns: str, name: str) -> str | None:
    obj = custom.get_namespaced_custom_object("datafoundry.io", "v1alpha1", ns, "datafoundryjobs", name)
    return (obj.get("status") or {}).get("phase")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live-jobs", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=5, help="small jobs run to Succeeded, one at a time")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    local = Path(os.environ.get("LOCAL_DIR", REPO / ".local" / "bench"))
    env = {**os.environ, "LOCAL_DIR": str(local)}
    started = subprocess.run([str(REPO / "hack" / "local-up.sh"), "status"], env=env, capture_output=True).returncode
    if started != 0:
        subprocess.run([str(REPO / "hack" / "local-up.sh"), "up"], env=env, check=True)
    kube, s3 = connect_local(local)
    install_crd(kube)
    kubeconfig_op = setup_operator_rbac(kube)
    op = Operator.on_free_ports(kube, s3, kubeconfig_op, local / f"operator-bench-{uuid.uuid4().hex[:6]}.log")
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=60s")
    prepare_job_namespace(kube, s3, ns)
    custom = k8s.CustomObjectsApi(kube.api)
    audit = local / "cluster" / "logs" / "audit.log"
    results: dict[str, Any] = {}
    op.start()
    assert op.proc is not None
    pid = op.proc.pid
    try:
        time.sleep(5)
        results["operator_rss_idle_mib"] = round(rss_mib(pid), 1)

        # 1. Small jobs to Succeeded, one at a time: overhead and API requests per job.
        runner = PodRunner(kube, CONTRACT_WORKER).start()
        overheads, totals = [], []
        mark = audit.stat().st_size
        prefix = f"bench/{uuid.uuid4().hex[:8]}/"
        for i in range(args.jobs):
            name = f"small-{i}"
            t0 = time.monotonic()
            kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job_manifest(name, s3, prefix)))
            deadline = time.monotonic() + 300
            while phase(custom, ns, name) not in ("Succeeded", "Failed"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} not finished after 300 s:\n{op.log_tail()}")
                time.sleep(0.05)
            total = time.monotonic() - t0
            assert phase(custom, ns, name) == "Succeeded", op.log_tail()
            # The workers' critical path: the slowest shard of each stage, stages in sequence.
            stage_time: dict[str, float] = {}
            for run in runner.find(f"{name}-"):
                stage = run.pod.split("-")[2]  # small-<i>-<stage>-...
                took = (run.finished or run.started) - run.started
                stage_time[stage] = max(stage_time.get(stage, 0.0), took)
            work = sum(stage_time.values())
            overheads.append(total - work)
            totals.append(total)
        time.sleep(3)
        requests, verbs = audit_count(audit, mark)
        runner.stop()
        results["small_job_apply_to_succeeded_seconds_median"] = round(sorted(totals)[len(totals) // 2], 2)
        results["small_job_overhead_seconds_median"] = round(sorted(overheads)[len(overheads) // 2], 2)
        results["api_requests_per_job"] = round(requests / args.jobs, 1)
        results["api_requests_per_job_by_verb"] = {k: round(v / args.jobs, 1) for k, v in sorted(verbs.items())}

        # 2. N live jobs (their pods stay Running: nobody runs them): RSS and CPU while they exist.
        cpu0 = cpu_seconds(pid)
        for i in range(args.live_jobs):
            kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job_manifest(f"live-{i}", s3, prefix)))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            phases = [phase(custom, ns, f"live-{i}") for i in range(args.live_jobs)]
            if all(p == "Generating" for p in phases):
                break
            time.sleep(1)
        time.sleep(10)
        results["live_jobs"] = args.live_jobs
        results["operator_rss_live_jobs_mib"] = round(rss_mib(pid), 1)
        mark = audit.stat().st_size
        t0, cpu1 = time.monotonic(), cpu_seconds(pid)
        time.sleep(30)
        idle_requests, _ = audit_count(audit, mark)
        results["operator_cpu_seconds_to_settle_live_jobs"] = round(cpu1 - cpu0, 1)
        busy = cpu_seconds(pid) - cpu1
        results["operator_cpu_percent_with_live_jobs"] = round(100 * busy / (time.monotonic() - t0), 1)
        results["api_requests_per_minute_with_live_jobs"] = idle_requests * 2
    finally:
        # Delete the jobs while the operator runs, so its finalizer lets them go.
        kube.kubectl("delete", "dfj", "--all", "-n", ns, "--wait=true", "--timeout=300s", check=False)
        op.stop()
        kube.core.delete_namespace(ns)
        if started != 0:  # we brought the test bed up: take it down
            subprocess.run([str(REPO / "hack" / "local-up.sh"), "down"], env=env, check=False)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

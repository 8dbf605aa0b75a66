#!/usr/bin/env python3
"""Operator scale benchmark: many DataFoundryJobs on a local control plane with many kwok GPU nodes.

    .venv/bin/python hack/bench/scale.py [--jobs 1000] [--nodes 100] [--shards 4] [--profile] [--json OUT]

Starts its own test bed in .local/bench-scale (GPU_NODES=--nodes, CPU_NODES=--cpu-nodes, higher
client rate limits for the controller manager and scheduler), runs `datafoundry operator` as a
separate process under its least-privilege ServiceAccount, applies --jobs jobs of --shards shards
each (one generator Job, a filter Job per shard, dedup, publish: 2 * shards + 2 pods per job) and
lets kwok run their pods: test-only workers (scale_parts.Workers) write the objects a worker writes
and hand the final counts to kwok, whose `pod-complete-reported` stage completes each pod with them
as its termination message.

Measures: every job Succeeded, wall time, operator RSS and CPU, the lag from each child Job's
completion to the job's status reflecting it (p50/p95), API requests per job by verb (audit log),
the backlog after a SIGKILL of the operator mid-run (time until every completion missed while it
was down is reflected), API requests per minute of an idle operator with every job finished, and
the start-up of an operator that finds them all finished. Also the CPU seconds of each control
plane component, to show what limits the run. With --profile, py-spy samples the operator (only
while it holds the GIL, so the shares are of its Python CPU time, not of time spent waiting) until
the restart, and again while a restarted operator catches up; the hottest functions are reported.

On a 2-core machine the control plane, not the operator, bounds the run: each worker pod's
lifecycle (create, bind, Running, result, Succeeded, finalizer removal, each fanned out to its
watchers) costs the simulated cluster (API server, kwok, scheduler, controller manager, etcd) ~0.3 s
of CPU, so the 10,000 pods of the full run keep both cores busy for about 34 minutes, and the
operator's status lag includes waiting for a CPU. `make bench` runs 100 jobs on 10 GPU nodes,
`make bench-scale` the full 1,000 (run_all.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from scale_parts import (
    GROUP_PATH,
    Api,
    Observer,
    Workers,
    audit_requests,
    cpu_seconds_of_group,
    machine_cpu_seconds,
    percentile,
    profile_summary,
    rss_mib,
)

from datafoundry.api.meta import API_VERSION, KIND
from datafoundry.testing.running_operator import (
    OPERATOR_NS,
    OPERATOR_SA,
    S3_SECRET,
    Operator,
    install_crd,
    prepare_job_namespace,
    setup_operator_rbac,
)
from datafoundry.testing.testbed import connect_local

REPO = Path(__file__).resolve().parents[2]

OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "seaweedfs")


def job_manifest(name: str, output_uri: str, endpoint: str, *, records: int, shards: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name},
        "spec": {
            "task": {"domain": "bench", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
            "target": {"records": records, "overgenerate": 1.5},
            "generator": {"model": "org/tiny", "shards": shards},
            "output": {"uri": output_uri, "endpointURL": endpoint, "credentials": {"secretRef": {"name": S3_SECRET}}},
        },
    }


def local_up(env: dict[str, str], command: str, check: bool = True) -> int:
    return subprocess.run([str(REPO / "hack" / "local-up.sh"), command], env=env, check=check,
                          stdout=subprocess.DEVNULL).returncode


def component_cpu(local: Path) -> dict[str, float]:
    out = {}
    for name in COMPONENTS:
        pid_file = local / "cluster" / "pids" / f"{name}.pid"
        if pid_file.exists():
            out[name] = cpu_seconds_of_group(int(pid_file.read_text()))
    return out


def jobs_gauge(op: Operator, phase: str) -> float:
    m = re.search(rf'^datafoundry_jobs{{phase="{phase}"}} (\S+)$', op.metrics(), re.MULTILINE)
    return float(m.group(1)) if m else 0.0


class OperatorProcess:
    """The operator's process across restarts: CPU seconds and peak RSS of every incarnation."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self.cpu_done = 0.0
        self.rss_peak = 0.0
        self.profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.op.proc is not None
        return self.op.proc.pid

    def cpu(self) -> float:
        return self.cpu_done + cpu_seconds_of_group(self.pid)

    def sample(self) -> float:
        rss = rss_mib(self.pid)
        self.rss_peak = max(self.rss_peak, rss)
        return rss

    def profile(self, out: Path) -> None:
        spy = REPO / ".venv" / "bin" / "py-spy"
        if not spy.exists():
            print("no py-spy in .venv (pip install -e '.[bench]'): not profiling", flush=True)
            return
        self.profiler = subprocess.Popen(
            [str(spy), "record", "--pid", str(self.pid), "--rate", "20", "--nonblocking", "--gil", "--format", "raw",
             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_profile(self) -> None:
        if self.profiler is not None and self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)
            self.profiler.wait(timeout=60)

    def end(self, how: str) -> None:
        self.sample()
        self.cpu_done = self.cpu()
        self.stop_profile()
        self.op.kill() if how == "kill" else self.op.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100, help="kwok GPU nodes (8 GPUs each)")
    parser.add_argument("--cpu-nodes", type=int, default=20, help="kwok CPU nodes (31 CPUs each)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--records", type=int, default=100, help="target records per job")
    parser.add_argument("--work-seconds", type=float, default=2.0,
                        help="simulated run time of a generator pod (CPU stages: half)")
    parser.add_argument("--progress-interval", type=float, default=10.0,
                        help="operator's DATAFOUNDRY_PROGRESS_INTERVAL_SECONDS (its default)")
    parser.add_argument("--restart-at", type=float, default=0.5,
                        help="SIGKILL the operator when this fraction of jobs succeeded (0: never)")
    parser.add_argument("--down-seconds", type=float, default=10.0, help="how long it stays down")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--filter-cpu", default="250m",
                        help="CPU request of the CPU stages' pods (DATAFOUNDRY_FILTER_CPU): with the operator's "
                             "default of 1, 20 kwok CPU nodes fit 620 and the run measures their queue, "
                             "not the operator")
    parser.add_argument("--timeout", type=float, help="for all jobs to finish (default: 3 s a job, at least 900 s)")
    parser.add_argument("--kube-api-qps", default="300", help="controller manager and scheduler client QPS")
    parser.add_argument("--profile", action="store_true", help="py-spy the operator until the restart")
    parser.add_argument("--keep", action="store_true", help="leave the test bed running")
    parser.add_argument("--operator-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the operator process (e.g. for tracemalloc)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.timeout = args.timeout or max(900.0, 3.0 * args.jobs)
    t_begin = time.monotonic()

    local = REPO / ".local" / "bench-scale"
    out_dir = REPO / ".local" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOCAL_DIR": str(local), "GPU_NODES": str(args.nodes), "CPU_NODES": str(args.cpu_nodes),
           "KUBE_API_QPS": args.kube_api_qps, "KUBE_API_BURST": str(2 * int(args.kube_api_qps)),
           "CONCURRENT_JOB_SYNCS": "10", "AUDIT_USER": OPERATOR_USER}
    local_up(env, "down", check=False)
    local_up(env, "up")
    results: dict[str, Any] = {"jobs": args.jobs, "gpu_nodes": args.nodes, "cpu_nodes": args.cpu_nodes,
                               "shards_per_job": args.shards, "pods_per_job": 2 * args.shards + 2,
                               "child_jobs_per_job": args.shards + 3,
                               "test_bed_up_seconds": round(time.monotonic() - t_begin, 1)}
    kubeconfig = local / "kubeconfig"
    kube, s3 = connect_local(local)
    install_crd(kube)
    op_kubeconfig = setup_operator_rbac(kube)
    ns = "scale"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=60s")
    prepare_job_namespace(kube, s3, ns)
    api = Api(kubeconfig)
    audit = local / "cluster" / "logs" / "audit.log"
    run_id = uuid.uuid4().hex[:8]

    observer = Observer(kubeconfig, ns).start()  # forks: before any thread starts
    workers = Workers(api, s3.env, ns, output_prefix=f"scale/{run_id}/", target=args.records, shards=args.shards,
                      overgenerate=1.5, work_seconds=args.work_seconds).start()
    op = Operator.on_free_ports(kube, s3, op_kubeconfig, out_dir / f"scale-operator-{run_id}.log",
                  extra_env={"DATAFOUNDRY_PROGRESS_INTERVAL_SECONDS": str(args.progress_interval),
                             "DATAFOUNDRY_FILTER_CPU": args.filter_cpu, "DATAFOUNDRY_FILTER_MEMORY": "512Mi",
                             **dict(kv.split("=", 1) for kv in args.operator_env)})
    proc = OperatorProcess(op)
    profile_raw = out_dir / f"scale-profile-{run_id}.txt"
    try:
        cpu0 = component_cpu(local)
        bench_cpu0 = time.process_time()
        machine0 = machine_cpu_seconds()
        mark0 = audit.stat().st_size
        op.start()
        if args.profile:
            proc.profile(profile_raw)
        t0 = time.monotonic()
        for i in range(args.jobs):
            name = f"job-{i:04d}"
            api.request("POST", f"{GROUP_PATH}/namespaces/{ns}/datafoundryjobs", json=job_manifest(
                name, workers.output_uri(name), s3.env["AWS_ENDPOINT_URL"], records=args.records, shards=args.shards))
        results["create_seconds"] = round(time.monotonic() - t0, 1)

        t_kill = t_restart = t_healthy = None
        last_print = 0.0
        while True:
            snap = observer.poll()
            phases = snap.get("phases", {})
            finished = phases.get("Succeeded", 0) + phases.get("Failed", 0)
            proc.sample()
            now = time.monotonic()
            if now - last_print >= 15:
                last_print = now
                print(f"[{now - t0:6.0f}s] {phases} pending reflections {snap.get('pending')} "
                      f"(oldest {snap.get('oldest_pending_s')}s) child Jobs complete "
                      f"{snap.get('child_jobs_complete')} pods reported {workers.reported} "
                      f"operator RSS {rss_mib(proc.pid):.0f} MiB CPU {proc.cpu():.0f}s", flush=True)
            if workers.errors:
                raise SystemExit(f"test workers failed: {workers.errors[:5]}")
            if finished >= args.jobs:
                break
            if args.restart_at and t_kill is None and phases.get("Succeeded", 0) >= args.restart_at * args.jobs:
                proc.end("kill")
                t_kill = time.monotonic()
                time.sleep(args.down_seconds)
                t_restart = time.monotonic()
                op.start()
                t_healthy = time.monotonic()
            if now - t0 > args.timeout:
                raise SystemExit(f"not finished after {args.timeout:.0f}s: {phases}\n{op.log_tail()}")
            time.sleep(1.0)
        t_done = time.monotonic()
        mark1 = audit.stat().st_size
        cpu1 = component_cpu(local)
        results["succeeded"] = phases.get("Succeeded", 0)
        results["failed"] = phases.get("Failed", 0)
        results["wall_seconds_create_to_all_finished"] = round(t_done - t0, 1)
        results["jobs_per_minute"] = round(60 * args.jobs / (t_done - t0), 1)
        results["operator_rss_peak_mib"] = round(proc.rss_peak, 1)
        results["operator_cpu_seconds"] = round(proc.cpu(), 1)
        results["operator_cpu_ms_per_job"] = round(1000 * proc.cpu() / args.jobs, 1)
        used = {**{k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
                "operator": round(proc.cpu(), 1), "bench workers": round(time.process_time() - bench_cpu0, 1)}
        machine = machine_cpu_seconds() - machine0
        # Whatever else runs on this machine competes for the same cores: say how much it took.
        results["cpu_seconds_during_run"] = {**used, "everything else on the machine": round(
            max(0.0, machine - sum(used.values())), 1), "available": round((os.cpu_count() or 1) * (t_done - t0), 1)}
        requests_run = audit_requests(audit, mark0, OPERATOR_USER, mark1)
        results["api_requests_per_job"] = round(sum(requests_run.values()) / args.jobs, 1)
        results["api_requests_per_job_by_verb"] = {
            k: round(v / args.jobs, 2) for k, v in sorted(requests_run.items()) if v / args.jobs >= 0.01}

        # Idle: every job finished, nothing changes; the operator should make (almost) no requests.
        mark = audit.stat().st_size
        c0, t_idle = proc.cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = audit_requests(audit, mark, OPERATOR_USER)
        elapsed = time.monotonic() - t_idle
        results["idle_api_requests_per_minute"] = round(60 * sum(idle.values()) / elapsed, 1)
        results["idle_api_requests_by_verb"] = dict(idle)
        results["idle_operator_cpu_percent"] = round(100 * (proc.cpu() - c0) / elapsed, 1)
        results["operator_rss_idle_mib"] = round(proc.sample(), 1)

        # A restart that finds every job finished: how long until it knows them all, what it asks.
        proc.end("stop")
        mark = audit.stat().st_size
        t_start = time.monotonic()
        op.start()
        t_up = time.monotonic()
        restart_raw = out_dir / f"scale-profile-restart-{run_id}.txt"
        if args.profile:
            proc.profile(restart_raw)
        while jobs_gauge(op, "Succeeded") + jobs_gauge(op, "Failed") < args.jobs:
            if time.monotonic() - t_start > 300:
                raise SystemExit(f"restarted operator did not see every job in 300s:\n{op.log_tail()}")
            time.sleep(0.2)
        t_settled = time.monotonic()
        proc.stop_profile()
        time.sleep(max(0.0, 30 - (t_settled - t_start)))
        startup = audit_requests(audit, mark, OPERATOR_USER)
        results["restart_all_finished"] = {
            "seconds_to_healthy": round(t_up - t_start, 1),
            "seconds_to_all_jobs_seen": round(t_settled - t_start, 1),
            "api_requests_first_30s": dict(startup),
            "operator_rss_mib": round(proc.sample(), 1),
        }
        if args.profile and restart_raw.exists():
            results["restart_all_finished"]["profile"] = {
                "raw": str(restart_raw.relative_to(REPO)), **profile_summary(restart_raw, top=15)}

        lags = observer.finish()
        snap = observer.latest
        if t_kill is not None and t_restart is not None:
            across = [x for x in lags if x[2] < t_restart and x[3] > t_kill]
            steady = [x for x in lags if x not in set(across)]
            results["restart_mid_run"] = {
                "killed_at_succeeded": round(args.restart_at * args.jobs),
                "down_seconds": args.down_seconds,
                "seconds_to_healthy": round((t_healthy or t_restart) - t_restart, 1),
                "backlog_child_completions": len(across),
                "backlog_jobs": len({x[0] for x in across}),
                "seconds_to_reconcile_backlog": round(max(x[3] for x in across) - t_restart, 1) if across else 0.0,
            }
        else:
            steady = lags
        values = [x[3] - x[2] for x in steady]
        results["status_lag_seconds"] = {
            "completions": len(values), "p50": round(percentile(values, 0.5), 2),
            "p95": round(percentile(values, 0.95), 2), "max": round(max(values, default=float("nan")), 2),
            "by_stage_p95": {stage: round(percentile([x[3] - x[2] for x in steady if x[1] == stage], 0.95), 2)
                             for stage in ("generate", "filter", "dedup", "publish")},
            "unreflected_at_end": snap.get("pending", 0),
        }
        if args.profile and profile_raw.exists():
            results["profile"] = {"raw": str(profile_raw.relative_to(REPO)), **profile_summary(profile_raw)}
        results["total_seconds"] = round(time.monotonic() - t_begin, 1)
    finally:
        workers.close()
        proc.stop_profile()
        op.stop()
        if observer.proc.is_alive():
            observer.proc.terminate()
        if not args.keep:
            local_up(env, "down", check=False)
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    failed = results.get("succeeded", 0) != args.jobs
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

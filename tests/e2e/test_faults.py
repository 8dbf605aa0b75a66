"""Fault tests: a generation job (the real workers, the shared vLLM server through the `openai`
engine, the real control plane and S3) disturbed in each way the design promises to survive, then
compared record for record with an undisturbed run of the same recipe and seed.

Every run uses the same job: 10 records generated in 2 shards of 3 chunks (batch size 2) on the GPU
nodes, exact dedup, 8 published. The reference run is made once per module. Two runs of a recipe
differ only in what names the job (its uid and output are in the recipe hash, hence the record ids
and `meta.job`/`meta.recipeHash`); everything else, including the order, must be identical.

Exact kill points come from an S3 fault proxy (tests/fixtures/s3proxy.py) that holds one chosen
write (a chunk of a shard, the manifest...) unanswered while the test kills the writer.
Each test prints a row of the fault table (fault, what happened, time to recover, records compared,
job time against the undisturbed run; `pytest -s` shows them) and appends it to the file named by
$DATAFOUNDRY_FAULT_REPORT when that is set.

S3 and the API server are stopped and started with `hack/local-up.sh stop-s3|start-s3|stop-apiserver|
start-apiserver` on the session's test bed; against a cluster that script did not start, the tests that
need it skip and say why (tests/fixtures/faults.py).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.engines.server import VLLMServer
from datafoundry.testing.podrunner import REAL_WORKER, PodRunner
from datafoundry.testing.running_operator import (
    S3_SECRET,
    Operator,
    created_children,
    prepare_job_namespace,
    setup_peering,
)
from datafoundry.testing.testbed import S3, Kube
from fixtures.faults import Dataset, TestbedControl, assert_same_dataset, read_dataset
from fixtures.s3proxy import S3FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.vllm, pytest.mark.slow]

NAME = "faulty"
SEEDS = [
    {"instruction": "How do I restart a deployment?", "response": "Run kubectl rollout restart deployment/NAME."},
    {"instruction": "What is a pod?", "response": "The smallest deployable unit: one or more containers."},
    {"instruction": "How do I see why a pod is pending?", "response": "kubectl describe pod NAME shows events."},
]
GPU_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
GEN_CHUNKS = 3  # 5 records per shard in chunks of 2
CHILDREN = {f"{NAME}-gen-r0", f"{NAME}-filter-r0-s0", f"{NAME}-filter-r0-s1", f"{NAME}-dedup-r0", f"{NAME}-publish"}
JOB_TIMEOUT = 300
S3_OUTAGE_SECONDS = 30


# -- the job ------------------------------------------------------------------------------------------


def job_doc(s3: S3, prefix: str, vllm: VLLMServer, endpoint: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": NAME},
        "spec": {
            "task": {"type": "instruction", "domain": "Kubernetes operations", "seeds": {"inline": SEEDS}},
            "target": {"records": 8, "overgenerate": 1.25},
            "generator": {
                "model": vllm.model, "shards": 2, "gpusPerShard": 0, "batchSize": 2,
                "sampling": {"maxTokens": 96, "temperature": 1.0},
                "engine": {"type": "openai", "endpoint": vllm.base_url, "maxConcurrency": 4},
                "strategies": [{"name": "selfInstruct", "options": {"maxChars": 40}}],
                "screens": {"enabled": False},  # the tiny random model: mechanics, not content
                # The generator pool: what a real job's vLLM pods would ask for.
                "nodeSelector": GPU_SELECTOR, "tolerations": [GPU_TOLERATION],
            },
            "filters": [{"type": "exactDedup"}],
            "output": {"uri": f"s3://{s3.bucket}/{prefix}", "endpointURL": endpoint or s3.endpoint_url,
                       "credentials": {"secretRef": {"name": S3_SECRET}}},
            "seed": 7,
        },
    }


@dataclass
class FaultRun:
    """One job in its own namespace and output prefix, with the pod runner that executes its pods."""

    kube: Kube
    s3: S3
    vllm: VLLMServer
    operator: Operator
    runner: PodRunner
    ns: str
    prefix: str = field(default_factory=lambda: f"tests/faults-{uuid.uuid4().hex[:10]}/out")
    started: float = 0.0
    uid: str = ""

    def apply(self, endpoint: str | None = None) -> None:
        self.started = time.monotonic()
        self.kube.kubectl("apply", "-n", self.ns, "-f", "-",
                          input=yaml.safe_dump(job_doc(self.s3, self.prefix, self.vllm, endpoint)))
        self.uid = self.obj()["metadata"]["uid"]

    def obj(self) -> dict[str, Any]:
        return k8s.CustomObjectsApi(self.kube.api).get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.ns, PLURAL, NAME)

    def status(self) -> dict[str, Any]:
        return self.obj().get("status") or {}

    def jobs(self) -> dict[str, k8s.V1Job]:
        return {j.metadata.name: j for j in self.kube.batch.list_namespaced_job(self.ns).items}

    def staging(self, rel: str) -> str:
        return f"{self.prefix}/_staging/{self.uid}/{rel}"

    def exists(self, key: str) -> bool:
        return self.s3.client.list_objects_v2(Bucket=self.s3.bucket, Prefix=key).get("KeyCount", 0) > 0

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = JOB_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(k8s.ApiException):  # the API server may be restarting
                last = probe()
                if last:
                    return last
                phase = self.status().get("phase")
                if phase == "Failed":
                    raise AssertionError(f"{NAME} failed while waiting for {what}: {self.status()}"
                                         f"\noperator:\n{self.operator.log_tail()}")
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; last {last!r}; status {self.status()}\n"
                             f"operator:\n{self.operator.log_tail()}\nruns: {self.runner.runs}")

    def wait_succeeded(self, timeout: float = JOB_TIMEOUT) -> float:
        """Seconds from apply to Succeeded."""
        self.wait(f"{NAME} to succeed", lambda: self.status().get("phase") == "Succeeded", timeout)
        return time.monotonic() - self.started

    def dataset(self) -> Dataset:
        return read_dataset(self.s3, self.prefix)

    def delete(self) -> None:
        """Delete the job and wait for its finalizer (run while its S3 endpoint still answers)."""
        self.kube.kubectl("delete", "dfj", NAME, "-n", self.ns, "--wait=true", "--timeout=90s", timeout=120)

    def pod(self, prefix: str) -> str:
        """The name of the running pod whose name starts with `prefix` (e.g. `faulty-gen-r0-0-`)."""
        def probe() -> str | None:
            runs = [r for r in self.runner.find(prefix) if r.namespace == self.ns and r.finished is None]
            return runs[-1].pod if runs else None
        return str(self.wait(f"a running pod {prefix}*", probe, 60))

    def gen_parts(self) -> dict[int, list[str]]:
        """Generated part objects per shard: a part written twice or lost shows up here."""
        out: dict[int, list[str]] = {}
        for shard in (0, 1):
            prefix = self.staging(f"gen/r00/s{shard:05d}/part-")
            resp = self.s3.client.list_objects_v2(Bucket=self.s3.bucket, Prefix=prefix)
            out[shard] = sorted(o["Key"].rsplit("/", 1)[1] for o in resp.get("Contents", []))
        return out

    def check_nothing_doubled(self) -> None:
        expected = [f"part-{c:05d}.jsonl" for c in range(GEN_CHUNKS)]
        assert self.gen_parts() == {0: expected, 1: expected}
        assert set(self.jobs()) == CHILDREN, sorted(self.jobs())


@dataclass
class Report:
    """One row of the fault table (printed; appended to $DATAFOUNDRY_FAULT_REPORT when set)."""

    fault: str
    happened: str
    recover_seconds: float
    records: int
    job_seconds: float
    reference_seconds: float

    def emit(self) -> None:
        row = (f"| {self.fault} | {self.happened} | {self.recover_seconds:.1f} s | {self.records} identical | "
               f"{self.job_seconds:.1f} s (undisturbed {self.reference_seconds:.1f} s) |")
        print("\nFAULT " + row)
        path = os.environ.get("DATAFOUNDRY_FAULT_REPORT")
        if path:
            with Path(path).open("a") as f:
                f.write(row + "\n")


# -- fixtures -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def job_namespace_for(kube: Kube, s3: S3) -> Iterator[str]:
    ns = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=60s")
    prepare_job_namespace(kube, s3, ns)
    try:
        yield ns
    finally:
        with contextlib.suppress(Exception):
            kube.core.delete_namespace(ns)


@contextlib.contextmanager
def real_runner(kube: Kube) -> Iterator[PodRunner]:
    runner = PodRunner(kube, REAL_WORKER, max_parallel=3).start()
    try:
        yield runner
    finally:
        runner.stop()


@dataclass
class Reference:
    dataset: Dataset
    seconds: float


@pytest.fixture(scope="module")
def reference(kube: Kube, s3: S3, vllm_server: VLLMServer, operator: Operator) -> Reference:
    """The undisturbed run every fault run is compared with."""
    with job_namespace_for(kube, s3) as ns, real_runner(kube) as runner:
        run = FaultRun(kube, s3, vllm_server, operator, runner, ns)
        run.apply()
        seconds = run.wait_succeeded()
        run.check_nothing_doubled()
        ds = run.dataset()
    assert ds.manifest["records"] == 8 and len(ds.records) == 8
    return Reference(ds, seconds)


@pytest.fixture
def fault_run(kube: Kube, s3: S3, vllm_server: VLLMServer, operator: Operator) -> Iterator[FaultRun]:
    with job_namespace_for(kube, s3) as ns, real_runner(kube) as runner:
        yield FaultRun(kube, s3, vllm_server, operator, runner, ns)


def reconciles(op: Operator) -> float:
    """Reconcile passes this operator process has finished."""
    for line in op.metrics().splitlines():
        if line.startswith('controller_runtime_reconcile_total{controller="datafoundryjob",result="success"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def finish(run: FaultRun, ref: Reference, fault: str, happened: str, recover: float,
           check: Callable[[], None] | None = None) -> None:
    """Wait for Succeeded, compare with the reference, run the test's own `check`, then report."""
    seconds = run.wait_succeeded()
    got = run.dataset()
    assert_same_dataset(got, ref.dataset)
    run.check_nothing_doubled()
    if check is not None:
        check()
    Report(fault, happened, recover, len(got.records), seconds, ref.seconds).emit()


# -- 1. the operator killed at every phase boundary and mid-phase --------------------------------------


def test_operator_killed_at_every_phase_boundary_and_mid_phase(fault_run: FaultRun, reference: Reference) -> None:
    run, op = fault_run, fault_run.operator
    seen: set[str] = set()
    kills: list[tuple[str, float]] = []  # (what had just happened, seconds until the operator was back)
    uids: dict[str, set[str]] = {}

    def kill_restart(why: str) -> None:
        # Pods already running go on while the operator is down; new ones wait until the restarted
        # operator has made its first pass, so that each phase lasts until it can be seen.
        t = time.monotonic()
        run.runner.paused.set()
        try:
            op.kill()
            op.start()
            run.wait("the restarted operator's first pass", lambda: reconciles(op) > 0, 60)
        finally:
            run.runner.paused.clear()
        kills.append((why, time.monotonic() - t))

    with S3FaultProxy(run.s3.endpoint_url) as proxy:
        # Generator shard 0 waits between its chunks 0 and 1 until the operator has been killed there.
        mid_shard = proxy.hold("PUT", r"/gen/r00/s00000/part-00001\.jsonl$")
        # The publish pod waits before its manifest until Publishing has been seen (and killed at):
        # a short publish could otherwise finish while the operator is down and skip the phase.
        manifest = proxy.hold("PUT", r"/manifest\.json$")
        run.apply(endpoint=proxy.url)
        deadline = time.monotonic() + JOB_TIMEOUT
        phase = None
        while phase != "Succeeded" and time.monotonic() < deadline:
            st = run.status()
            phase = st.get("phase")
            assert phase != "Failed", st
            jobs = run.jobs()
            for name, j in jobs.items():
                uids.setdefault(name, set()).add(j.metadata.uid)
            # Phase boundaries, a child just created (mid-phase: the next shard's filter while generation
            # goes on), a child just finished (before the operator reacts to it), a shard between chunks.
            marks = {f"phase {phase}"} | {f"created {n}" for n in jobs} | {
                f"finished {n}" for n, j in jobs.items() if (j.status.succeeded or 0) >= (j.spec.completions or 1)}
            if mid_shard.arrived.is_set():
                marks.add("generator s0 mid-shard")
            new = sorted(marks - seen)
            seen |= marks
            if new:
                kill_restart(", ".join(new))
            if mid_shard.arrived.is_set():
                mid_shard.release(forward=True)
            if manifest.arrived.is_set() and "phase Publishing" in seen:
                manifest.release(forward=True)
            time.sleep(0.2)
        seconds = run.wait_succeeded()
        # Once more when it is done: a restarted operator must not redo anything.
        kill_restart("phase Succeeded (again)")
        time.sleep(3)
        assert run.status()["phase"] == "Succeeded"
        phases = {m.split()[1] for why, _ in kills for m in why.split(", ") if m.startswith("phase ")}
        assert {"Generating", "Filtering", "Publishing", "Succeeded"} <= phases, "\n".join(map(str, kills))
        assert any("mid-shard" in why for why, _ in kills), kills
        assert all(len(u) == 1 for u in uids.values()), f"a child Job was created twice: {uids}"
        for prefix, runs in ((f"{NAME}-gen-r0-", 2), (f"{NAME}-filter-r0-s0-", 1), (f"{NAME}-filter-r0-s1-", 1),
                             (f"{NAME}-dedup-r0-", 1), (f"{NAME}-publish-", 1)):
            assert len(run.runner.find(prefix)) == runs, (prefix, run.runner.runs)
        got = run.dataset()
        assert_same_dataset(got, reference.dataset)
        run.check_nothing_doubled()
        run.delete()
    Report("operator SIGKILLed at every phase boundary and mid-phase",
           f"{len(kills)} kills ({'; '.join(w for w, _ in kills)}); each restarted operator went on from what "
           "exists: no child created twice, no shard rerun", max(s for _, s in kills), len(got.records), seconds,
           reference.seconds).emit()


# -- 2. a generator pod, a filter pod and the publish pod killed at exact points ----------------------


def test_worker_pods_killed_mid_shard_and_between_data_and_manifest(
    fault_run: FaultRun, reference: Reference
) -> None:
    run = fault_run
    with S3FaultProxy(run.s3.endpoint_url) as proxy:
        # Generator shard 0 between its chunks 0 and 1 (part 0 and the checkpoint written);
        # filter shard 1 after its accepted records, before its dedup hashes and summary;
        # publish after every data object, before the manifest (the commit point).
        gen = proxy.hold("PUT", r"/gen/r00/s00000/part-00001\.jsonl$")
        filt = proxy.hold("PUT", r"/filter/r00/s00001/exact-hashes\.npy$")
        manifest = proxy.hold("PUT", rf"^{run.prefix}/manifest\.json$")
        run.apply(endpoint=proxy.url)
        recovered: list[float] = []
        for hold, pod_prefix, done in (
            (gen, f"{NAME}-gen-r0-0-", "gen/r00/s00000/_DONE.json"),
            (filt, f"{NAME}-filter-r0-s1-", "filter/r00/s00001/_DONE.json"),
            (manifest, f"{NAME}-publish-", None),
        ):
            run.wait(f"a held {hold.key}", hold.arrived.is_set)
            pod = run.pod(pod_prefix)
            if hold is manifest:
                data = run.s3.client.list_objects_v2(Bucket=run.s3.bucket, Prefix=f"{run.prefix}/data/")
                assert data.get("KeyCount", 0) > 0, "publish must have written its data before the manifest"
                assert not run.exists(f"{run.prefix}/manifest.json")
            assert run.runner.kill(run.ns, pod)
            killed = time.monotonic()
            hold.release()
            if done is not None:
                run.wait(f"{done} after the kill", lambda d=done: run.exists(run.staging(d)))  # type: ignore[misc]
            else:
                run.wait("the manifest after the kill", lambda: run.exists(f"{run.prefix}/manifest.json"))
            recovered.append(time.monotonic() - killed)
        finish(run, reference, "generator pod killed mid-shard; filter pod killed mid-shard; publish pod killed "
               "between data and manifest",
               "each pod failed with 137, the Job controller retried it after its backoff, the new pod resumed "
               f"(generator from chunk 1, filter and publish redone) (recovered in "
               f"{', '.join(f'{r:.1f}' for r in recovered)} s)", max(recovered))
        run.delete()
    for prefix in (f"{NAME}-gen-r0-0-", f"{NAME}-filter-r0-s1-", f"{NAME}-publish-"):
        codes = [r.exit_code for r in run.runner.find(prefix) if r.namespace == run.ns]
        assert codes == [137, 0], (prefix, codes)
    # The generator resumed after its checkpoint: chunk 0 was written once, chunk 1 twice (held, then real).
    puts = [key for method, key in proxy.requests if method == "PUT" and "/gen/r00/s00000/part-" in key]
    assert sorted(k.rsplit("/", 1)[1] for k in puts) == [
        "part-00000.jsonl", "part-00001.jsonl", "part-00001.jsonl", "part-00002.jsonl"], puts


# -- 3. S3 down for 30 s during generation and during publish -----------------------------------------


def test_s3_down_for_30s_during_generation_and_during_publish(
    fault_run: FaultRun, reference: Reference, restores_components: TestbedControl
) -> None:
    run, bed = fault_run, restores_components
    run.apply()
    recovered = []
    for phase, ready in (
        ("generation", lambda: run.exists(run.staging("gen/r00/s00000/part-00000.jsonl"))),
        ("publish", lambda: f"{NAME}-publish" in run.jobs()),
    ):
        run.wait(f"{phase} to be under way", ready)
        bed.stop_s3()
        down = time.monotonic()
        time.sleep(S3_OUTAGE_SECONDS)
        bed.start_s3()
        up = time.monotonic()
        stage = "gen/r00" if phase == "generation" else "publish"
        # Recovered: the stage that was cut off finished its work (workers retried, then went on).
        done = run.staging(f"{stage}/s00000/_DONE.json") if phase == "generation" else f"{run.prefix}/manifest.json"
        run.wait(f"{phase} to finish after S3 came back", lambda d=done: run.exists(d))  # type: ignore[misc]
        recovered.append((phase, up - down, time.monotonic() - up))

    def no_pod_failed() -> None:
        # The workers waited for the store instead of failing (and burning the shard's retries).
        failed = [(r.pod, r.exit_code) for r in run.runner.runs if r.namespace == run.ns and r.exit_code != 0]
        assert not failed, failed

    finish(run, reference, "S3 (SeaweedFS) stopped for 30 s during generation and again during publish",
           "; ".join(f"{p}: down {d:.0f} s, done {a:.1f} s after it was back" for p, d, a in recovered)
           + "; the workers retried their S3 calls and went on, no pod failed",
           max(a for _, _, a in recovered), no_pod_failed)


# -- 4. kube-apiserver restarted mid-job ----------------------------------------------------------------


def test_apiserver_restarted_mid_job_and_the_operator_reconnects(
    fault_run: FaultRun, reference: Reference, restores_components: TestbedControl
) -> None:
    run, bed, op = fault_run, restores_components, fault_run.operator
    assert op.proc is not None
    pid = op.proc.pid
    log_start = op.log_path.stat().st_size
    run.apply()
    run.wait("generation to be under way", lambda: run.exists(run.staging("gen/r00/s00000/part-00000.jsonl")))
    down = time.monotonic()
    bed.stop_apiserver()
    time.sleep(5)  # workers go on meanwhile; their pods' results wait for the API server
    bed.start_apiserver()
    up = time.monotonic()
    version = run.obj()["metadata"]["resourceVersion"]
    # Nobody restarts anything: the operator's watches come back on their own and it writes the
    # job's status again (live progress changes with every chunk the workers finish).
    run.wait("the operator to update the job again", lambda: run.obj()["metadata"]["resourceVersion"] != version)
    recovered = time.monotonic() - up

    def same_operator_never_gave_up() -> None:
        assert op.proc is not None and op.proc.pid == pid and op.proc.poll() is None, "the operator was restarted"
        with op.log_path.open("rb") as f:
            f.seek(log_start)
            log = f.read().decode(errors="replace")
        # Passes that failed while the API server was away were retried; the daemon never failed
        # (kopf would idle a failed daemon for 60 s).
        assert "Daemon 'supervise' failed" not in log, log[-4000:]

    finish(run, reference, "kube-apiserver stopped and started again mid-job (generation running)",
           f"API server away {up - down:.0f} s; the same operator process re-established its watches and "
           f"wrote the job's status again {recovered:.1f} s after the API server was back", recovered,
           same_operator_never_gave_up)


# -- 5. the GPU node of a running generator pod deleted ------------------------------------------------


def test_gpu_node_deleted_while_its_generator_pod_runs(
    fault_run: FaultRun, reference: Reference, testbed_control: TestbedControl
) -> None:
    run, kube = fault_run, fault_run.kube
    with S3FaultProxy(run.s3.endpoint_url) as proxy:
        hold = proxy.hold("PUT", r"/gen/r00/s00000/part-00001\.jsonl$")  # shard 0 is mid-shard
        run.apply(endpoint=proxy.url)
        run.wait("generator shard 0 between two chunks", hold.arrived.is_set)
        pod = run.pod(f"{NAME}-gen-r0-0-")
        node = kube.core.read_namespaced_pod(pod, run.ns).spec.node_name
        assert node and node.startswith("gpu-node-"), node
        try:
            kube.kubectl("delete", "node", node, "--wait=false")
            lost = time.monotonic()
            hold.release()
            # The node's kubelet is gone with it: the pod's process dies and nobody reports. The pod
            # garbage collector deletes the orphaned pod; the Job controller makes a new one elsewhere.
            run.wait("the orphaned pod to be deleted", lambda: not _pod_exists(kube, run.ns, pod), 180)
            replacement = run.pod(f"{NAME}-gen-r0-0-")
            rescheduled = time.monotonic() - lost
            run.wait("shard 0 to finish on its new node", lambda: run.exists(run.staging("gen/r00/s00000/_DONE.json")))
            recovered = time.monotonic() - lost
            new_node = next(r.node for r in run.runner.runs if r.pod == replacement)
        finally:
            testbed_control.restore_node(kube, node)
        finish(run, reference, "kwok GPU node deleted while its generator pod ran (mid-shard)",
               f"process died with {node}; PodGC deleted the orphaned pod, the Job controller recreated it "
               f"{rescheduled:.0f} s after the node went, on {new_node}; it resumed from chunk 1", recovered)
        run.delete()
    assert new_node != node and new_node.startswith("gpu-node-"), new_node
    puts = [key for method, key in proxy.requests if method == "PUT" and "/gen/r00/s00000/part-" in key]
    assert sorted(k.rsplit("/", 1)[1] for k in puts) == [
        "part-00000.jsonl", "part-00001.jsonl", "part-00001.jsonl", "part-00002.jsonl"], puts


def _pod_exists(kube: Kube, ns: str, name: str) -> bool:
    try:
        kube.core.read_namespaced_pod(name, ns)
    except k8s.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


# -- 6. two operator replicas (peering): only one acts -------------------------------------------------


def test_two_operator_replicas_with_peering_only_one_acts(
    kube: Kube, s3: S3, vllm_server: VLLMServer, operator: Operator, reference: Reference
) -> None:
    peering, kubeconfig = setup_peering(kube, "df-faults")
    replicas = [Operator.on_free_ports(kube, s3, kubeconfig,
                                       operator.log_path.parent / f"operator-peer{prio}-{uuid.uuid4().hex[:6]}.log",
                                       extra_args=["--peering", peering, "--peering-priority", str(prio)])
                for prio in (200, 100)]
    active, standby = replicas
    resumed = "Resuming operations after the pause"  # what kopf logs when a replica becomes the active one
    operator.stop()  # the module's standalone operator would act too
    try:
        active.start()
        standby.start()
        with job_namespace_for(kube, s3) as ns, real_runner(kube) as runner:
            run = FaultRun(kube, s3, vllm_server, active, runner, ns)
            run.wait("the higher priority replica to be active", lambda: resumed in active.log_tail(20000), 60)
            run.apply()
            run.wait("generation to be under way", lambda: run.exists(run.staging("gen/r00/s00000/part-00000.jsonl")))
            assert reconciles(active) > 0
            assert reconciles(standby) == 0, "the standby replica reconciled a job"
            assert resumed not in standby.log_tail(20000)
            # The active replica goes (a rollout): it leaves the peering, the standby takes over.
            left = time.monotonic()
            active.stop()
            run.wait("the standby to take over", lambda: resumed in standby.log_tail(20000), 60)
            took_over = time.monotonic() - left
            run.operator = standby
            seconds = run.wait_succeeded()
            got = run.dataset()
            assert_same_dataset(got, reference.dataset)
            run.check_nothing_doubled()
            assert reconciles(standby) > 0
            created = created_children(e.message for e in kube.core.list_namespaced_event(ns).items
                                       if e.reason == "CreatedJob" and e.involved_object.name == NAME)
            assert sorted(created) == sorted(set(created)) and len(created) == len(CHILDREN), created
        Report("two operator replicas at once (kopf peering, priorities 200 and 100)",
               "only the higher one reconciled; the other stood by (0 reconciles) until the active one left "
               f"mid-job, then took over in {took_over:.1f} s and finished; each of the {len(CHILDREN)} children "
               "created once", took_over, len(got.records), seconds, reference.seconds).emit()
    finally:
        for r in replicas:
            r.stop()
        kube.kubectl("delete", "clusterkopfpeering", peering, "--ignore-not-found")
        operator.start()


# -- 7. a Kueue-style actor suspends and resumes the child Jobs ---------------------------------------


def test_child_jobs_suspended_and_resumed_by_an_external_actor(fault_run: FaultRun, reference: Reference) -> None:
    run, kube = fault_run, fault_run.kube
    gen, publish = f"{NAME}-gen-r0", f"{NAME}-publish"

    def suspend(job: str, value: bool) -> None:
        kube.batch.patch_namespaced_job(job, run.ns, {"spec": {"suspend": value}})

    def pods_gone(job: str) -> bool:
        return not kube.core.list_namespaced_pod(run.ns, label_selector=f"batch.kubernetes.io/job-name={job}").items

    run.apply()
    run.wait("generation to be under way", lambda: run.exists(run.staging("gen/r00/s00000/part-00000.jsonl")))
    # As Kueue preempting a workload: suspend the running generator Job; its pods go, finished chunks stay.
    suspend(gen, True)
    suspended = time.monotonic()
    run.wait("the generator pods to be gone", lambda: pods_gone(gen), 60)
    time.sleep(3)
    assert run.jobs()[gen].spec.suspend is True, "the operator must leave suspend to the queue"
    assert run.status().get("phase") == "Generating"
    suspend(gen, False)
    resumed = time.monotonic()
    run.wait("generation to finish after the resume", lambda: run.jobs()[gen].status.succeeded == 2)
    recovered = time.monotonic() - resumed
    # As Kueue holding a later Job before admitting it: the publish Job, suspended before its pod ran.
    run.wait("the dedup pod to run", lambda: run.runner.find(f"{NAME}-dedup-r0-"))
    run.runner.paused.set()
    try:
        run.wait("the publish Job", lambda: publish in run.jobs())
        suspend(publish, True)
        run.wait("the publish pod to be gone", lambda: pods_gone(publish), 60)
        time.sleep(2)
        assert not run.exists(f"{run.prefix}/manifest.json")
        suspend(publish, False)
    finally:
        run.runner.paused.clear()
    finish(run, reference, "child Jobs suspended and resumed by an external actor (Kueue-style): the running "
           "generator Job, then the publish Job before its pod ran",
           f"the generator Job lost its pods for {resumed - suspended:.0f} s; new pods resumed from the checkpoints "
           f"and finished {recovered:.1f} s after the resume; the operator never touched spec.suspend", recovered)
    assert not [r for r in run.runner.find(f"{NAME}-publish-") if r.namespace == run.ns and r.exit_code != 0]

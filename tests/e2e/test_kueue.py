"""Kueue for real: the Kueue controller (built from sigs.k8s.io/kueue, tests/fixtures/kueue.py) admits,
preempts and resumes a DataFoundryJob's child Jobs on the test bed.

A ClusterQueue holds 2 `nvidia.com/gpu`; the job's generator round asks for 2 (2 shards of 1 GPU). The
quota is first taken by another Job, so the round waits; then admitted, its shard 0 finishes while
shard 1 is still running; then a higher-priority Job (a WorkloadPriorityClass) makes Kueue preempt the
round; once that Job is gone Kueue admits it again and the job finishes. The worker pods run through
the pod runner with the contract worker (the data does not matter here, the scheduling does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from kubernetes import client as k8s

from datafoundry.api.keys import LABEL_JOB_NAME
from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.testing import waiting
from datafoundry.testing.kueue import Kueue
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator
from datafoundry.testing.testbed import S3, Kube

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KUEUE = "kueue.x-k8s.io"
NAME = "queued"
GEN = f"{NAME}-gen-r0"
GPU_NODE = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}


def _custom(kube: Kube) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(kube.api)


def _wait(what: str, probe: Callable[[], Any], op: Operator, kueue: Kueue, timeout: float = 90) -> Any:
    return waiting.wait_for(what, probe, timeout,
                            details=lambda: f"operator log:\n{op.log_tail()}\nkueue log:\n{kueue.log_tail(30)}")


def queues(kube: Kube, ns: str, suffix: str) -> str:
    """A ResourceFlavor, a ClusterQueue with 2 GPUs (lower priorities preempted) and a LocalQueue in `ns`."""
    flavor, cq = f"default-{suffix}", f"gpus-{suffix}"
    objs: list[dict[str, Any]] = [
        {"apiVersion": f"{KUEUE}/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": flavor}},
        {"apiVersion": f"{KUEUE}/v1beta2", "kind": "ClusterQueue", "metadata": {"name": cq}, "spec": {
            "namespaceSelector": {},
            "preemption": {"withinClusterQueue": "LowerPriority"},
            "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [{
                "name": flavor, "resources": [{"name": "cpu", "nominalQuota": "100"},
                                              {"name": "memory", "nominalQuota": "1Ti"},
                                              {"name": "nvidia.com/gpu", "nominalQuota": "2"}]}]}]}},
        {"apiVersion": f"{KUEUE}/v1beta2", "kind": "LocalQueue", "metadata": {"name": "gpu-queue", "namespace": ns},
         "spec": {"clusterQueue": cq}},
        {"apiVersion": f"{KUEUE}/v1beta2", "kind": "WorkloadPriorityClass", "metadata": {"name": f"urgent-{suffix}"},
         "value": 1000, "description": "preempts data generation"},
    ]
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    return cq


def gpu_job(name: str, gpus: int, priority_class: str | None = None) -> dict[str, Any]:
    """A plain Job in the GPU queue holding `gpus` GPUs (its pods stay Running on the kwok nodes)."""
    labels = {f"{KUEUE}/queue-name": "gpu-queue"}
    if priority_class:
        labels[f"{KUEUE}/priority-class"] = priority_class
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels}, "spec": {
        "parallelism": gpus, "completions": gpus, "suspend": True,
        "template": {"spec": {**GPU_NODE, "restartPolicy": "Never", "containers": [{
            "name": "train", "image": "example.com/train:1",
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": "1"}}}]}}}}


def manifest(s3: S3, prefix: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": NAME}, "spec": {
        "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 20, "overgenerate": 1.5},
        "generator": {"model": "org/tiny", "shards": 2, "gpusPerShard": 1},
        "queueName": "gpu-queue",
        "output": {"uri": f"s3://{s3.bucket}/{prefix}{NAME}", "endpointURL": s3.endpoint_url,
                   "credentials": {"secretRef": {"name": S3_SECRET}}},
    }}


def dfj(kube: Kube, ns: str) -> dict[str, Any]:
    return cast(dict[str, Any], _custom(kube).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, NAME))


def progressing(kube: Kube, ns: str) -> dict[str, Any]:
    conditions = (dfj(kube, ns).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Progressing"), {})


def job_of(kube: Kube, ns: str, name: str) -> dict[str, Any] | None:
    """The Job as a dict (the client's snake_case keys), None when there is none."""
    try:
        job: dict[str, Any] = kube.batch.read_namespaced_job(name, ns).to_dict()
        return job
    except k8s.ApiException as e:
        if e.status == 404:
            return None
        raise


def workload_of(kube: Kube, ns: str, job: dict[str, Any]) -> dict[str, Any] | None:
    found = cast(dict[str, Any], _custom(kube).list_namespaced_custom_object(
        KUEUE, "v1beta2", ns, "workloads", label_selector=f"{KUEUE}/job-uid={job['metadata']['uid']}"))
    return found["items"][0] if found["items"] else None


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def event_reasons(kube: Kube, ns: str) -> list[str]:
    return [str(e.reason) for e in kube.core.list_namespaced_event(ns).items if e.involved_object.name == NAME]


def admitted(kube: Kube, ns: str, name: str) -> bool:
    job = job_of(kube, ns, name)
    return job is not None and job["spec"]["suspend"] is False


def suspended(kube: Kube, ns: str, name: str) -> bool:
    job = job_of(kube, ns, name)
    return job is not None and job["spec"]["suspend"] is True


def completed_indexes(kube: Kube, ns: str, name: str) -> str | None:
    job = job_of(kube, ns, name)
    return job["status"].get("completed_indexes") if job is not None else None


def create(kube: Kube, ns: str, obj: dict[str, Any]) -> None:
    kube.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(obj))


def test_kueue_queues_admits_preempts_and_resumes_a_generation_round(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner, kueue: Kueue,
) -> None:
    ns = job_namespace
    suffix = ns.removeprefix("t-")
    cq = queues(kube, ns, suffix)
    try:
        # Someone else's Job holds the whole GPU quota.
        create(kube, ns, gpu_job("other-team", 2))
        _wait("Kueue to admit the other Job", lambda: admitted(kube, ns, "other-team"), operator, kueue)

        # Shard 1's first attempt is still running when the preemption comes; shard 0 finishes at once.
        pod_runner.extra_env["CONTRACT_WORKER_HOLD"] = "generate:1:300"
        kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest(s3, s3_prefix)))

        # Queued: created suspended, Kueue's Workload has no quota, the status says so.
        gen = _wait("the generator Job", lambda: job_of(kube, ns, GEN), operator, kueue)
        assert gen["metadata"]["labels"][f"{KUEUE}/queue-name"] == "gpu-queue"
        _wait("Kueue's Workload for the generator Job", lambda: workload_of(kube, ns, gen), operator, kueue)
        queued = _wait("the job to say it waits for Kueue",
                       lambda: (p := progressing(kube, ns)).get("reason") == "WaitingForAdmission" and p,
                       operator, kueue)
        assert f"waiting for Kueue admission of {GEN} in LocalQueue gpu-queue" in queued["message"]
        time.sleep(3)
        assert suspended(kube, ns, GEN), "admitted while the quota is used"
        assert condition(workload_of(kube, ns, gen), "QuotaReserved").get("status") != "True"
        assert pod_runner.find(f"{GEN}-") == []

        # The quota frees up: Kueue admits the round, shard 0 finishes, shard 1 runs.
        kube.batch.delete_namespaced_job("other-team", ns, propagation_policy="Background")
        _wait("Kueue to admit the generator Job", lambda: admitted(kube, ns, GEN), operator, kueue)
        assert condition(workload_of(kube, ns, gen), "Admitted").get("status") == "True"
        _wait("shard 0 to finish and shard 1 to run", lambda: (
            completed_indexes(kube, ns, GEN) == "0"
            and any(r.finished is None for r in pod_runner.find(f"{GEN}-1-"))), operator, kueue)
        _wait("the status to say the stage runs", lambda: progressing(kube, ns).get("reason") == "StageRunning",
              operator, kueue)

        # A higher-priority Job needs the GPUs: Kueue preempts the round and its pod goes away.
        create(kube, ns, gpu_job("urgent", 2, priority_class=f"urgent-{suffix}"))
        _wait("Kueue to suspend the generator Job", lambda: suspended(kube, ns, GEN), operator, kueue)
        evicted = _wait("the generator Workload to be evicted", lambda: (
            c := condition(workload_of(kube, ns, gen), "Evicted")).get("status") == "True" and c, operator, kueue)
        assert evicted["reason"] == "Preempted", evicted
        _wait("shard 1's pod to be stopped", lambda: all(r.finished is not None for r in pod_runner.find(f"{GEN}-1-")),
              operator, kueue)
        _wait("Kueue to admit the urgent Job", lambda: admitted(kube, ns, "urgent"), operator, kueue)
        told = _wait("the job to say it was preempted",
                     lambda: (p := progressing(kube, ns)).get("reason") == "Preempted" and p, operator, kueue)
        assert f"Kueue suspended {GEN} after it had started" in told["message"]
        assert "1 finished shard(s) are kept" in told["message"]
        _wait("the Preempted Event", lambda: "Preempted" in event_reasons(kube, ns), operator, kueue, timeout=30)
        assert completed_indexes(kube, ns, GEN) == "0"

        # The urgent work is done: Kueue admits the round again and the job finishes.
        kube.batch.delete_namespaced_job("urgent", ns, propagation_policy="Background")
        _wait("the job to succeed", lambda: (dfj(kube, ns).get("status") or {}).get("phase") == "Succeeded",
              operator, kueue, timeout=150)
    finally:
        for kind, name in (("clusterqueue", cq), ("resourceflavor", f"default-{suffix}"),
                           ("workloadpriorityclass", f"urgent-{suffix}")):
            kube.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)

    status = dfj(kube, ns)["status"]
    # The finished shard was not run again; the preempted one ran twice (killed, then rerun).
    assert len(pod_runner.find(f"{GEN}-0-")) == 1
    runs = pod_runner.find(f"{GEN}-1-")
    assert len(runs) == 2 and runs[0].exit_code not in (0, None) and runs[1].exit_code == 0, runs
    # Nothing counted or published twice: 2 shards of 15 generated, 20 published, each record once.
    assert status["progress"]["generated"] == 30, status["progress"]
    assert status["output"]["records"] == 20
    key = f"{s3_prefix}{NAME}/manifest.json"
    manifest_obj = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    assert manifest_obj["records"] == 20
    data = s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}{NAME}/{manifest_obj['shards'][0]['key']}")
    ids = [json.loads(line)["id"] for line in data["Body"].read().decode().splitlines() if line]
    assert len(ids) == 20 == len(set(ids))
    # Every child went through Kueue.
    children = kube.batch.list_namespaced_job(ns, label_selector=LABEL_JOB_NAME).items
    assert len(children) == 5  # generator, 2 filters, dedup, publish
    for job in children:
        assert workload_of(kube, ns, job.to_dict()) is not None, job.to_dict()["metadata"]["name"]
    assert {"WaitingForAdmission", "Preempted"} <= set(event_reasons(kube, ns))

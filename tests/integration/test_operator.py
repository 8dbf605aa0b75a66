"""The operator's whole state machine on the real control plane and S3, with the chart's RBAC.

Worker pods run as local processes through the test pod runner, with the test-only contract
worker (datafoundry.testing.contract_worker), so these tests prove the operator, not the data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.testing import waiting
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator, created_children
from datafoundry.testing.testbed import S3, Kube

pytestmark = pytest.mark.integration


def manifest(name: str, s3: S3, prefix: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 20, "overgenerate": 1.5},
        "generator": {"model": "org/tiny", "shards": 2, "gpusPerShard": 1},
        "output": {"uri": f"s3://{s3.bucket}/{prefix}{name}", "endpointURL": s3.endpoint_url,
                   "credentials": {"secretRef": {"name": S3_SECRET}}},
    }
    body.update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": name}, "spec": body}


def apply(kube: Kube, ns: str, obj: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def get(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return k8s.CustomObjectsApi(kube.api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)  # type: ignore[no-any-return]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120, op: Operator | None = None) -> Any:
    """`waiting.wait_for` with the operator's log tail in the failure."""
    return waiting.wait_for(what, probe, timeout, details=(lambda: f"operator log:\n{op.log_tail()}") if op else None)


def phase(kube: Kube, ns: str, name: str) -> str | None:
    return (get(kube, ns, name).get("status") or {}).get("phase")


def wait_phase(kube: Kube, ns: str, name: str, want: str, op: Operator, timeout: float = 180) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get(kube, ns, name)
        got = (obj.get("status") or {}).get("phase")
        if got in ("Failed", "Succeeded") and got != want:
            raise AssertionError(f"{name} ended {got}, wanted {want}: {json.dumps(obj.get('status'), indent=1)}"
                                 f"\noperator log:\n{op.log_tail()}")
        return obj if got == want else None

    return wait_for(f"{name} to be {want}", probe, timeout, op)  # type: ignore[no-any-return]


def child_jobs(kube: Kube, ns: str) -> dict[str, k8s.V1Job]:
    return {j.metadata.name: j for j in kube.batch.list_namespaced_job(ns).items}


def events(kube: Kube, ns: str, name: str) -> list[k8s.CoreV1Event]:
    return [e for e in kube.core.list_namespaced_event(ns).items if e.involved_object.name == name]


def test_happy_path_to_succeeded_with_status_events_and_printer_columns(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    apply(kube, ns, manifest("happy", s3, s3_prefix))
    obj = wait_phase(kube, ns, "happy", "Succeeded", operator)
    status = obj["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    for t in ("Accepted", "Generated", "Filtered", "Published", "Succeeded"):
        assert conditions[t]["status"] == "True", t
        assert conditions[t]["observedGeneration"] == obj["metadata"]["generation"]
    assert conditions["Progressing"]["status"] == "False"
    progress = status["progress"]
    assert progress["generated"] == 30  # 20 x overgenerate 1.5
    assert progress["rejected"] == {"length": 6}  # the contract worker drops every 5th record
    assert status["output"]["records"] == 20 and progress["percent"] == 100
    assert status["startTime"] and status["completionTime"]

    manifest_obj = s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}happy/manifest.json")
    published = json.loads(manifest_obj["Body"].read())
    assert published["records"] == status["output"]["records"]
    assert published["job"]["uid"] == obj["metadata"]["uid"]

    jobs = child_jobs(kube, ns)
    assert set(jobs) == {
        "happy-gen-r0", "happy-filter-r0-s0", "happy-filter-r0-s1", "happy-dedup-r0", "happy-publish"}
    for j in jobs.values():
        ref = j.metadata.owner_references[0]
        uid = obj["metadata"]["uid"]
        assert (ref.kind, ref.name, ref.uid, ref.controller) == ("DataFoundryJob", "happy", uid, True)
    gen = jobs["happy-gen-r0"]
    assert gen.spec.completion_mode == "Indexed" and gen.spec.completions == 2
    pod_spec = gen.spec.template.spec
    assert pod_spec.service_account_name == "datafoundry-worker"
    assert pod_spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    plan = kube.core.read_namespaced_config_map("happy-plan", ns)
    assert json.loads(plan.data["plan.json"])["recipeHash"] == status["planHash"]

    wanted = {"CreatedPlan", "CreatedJob", "Generating", "Succeeded", "AllShardsDone"}
    wait_for("the events", lambda: wanted <= {e.reason for e in events(kube, ns, "happy")}, timeout=30, op=operator)
    table = kube.kubectl("get", "dfj", "happy", "-n", ns).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "PHASE", "PROGRESS", "ACCEPTED", "TARGET"]
    # 24 passed the filters; the dataset holds the 20 the target asked for.
    assert row.split()[:5] == ["happy", "Succeeded", "100%", "24", "20"]
    scrape = operator.metrics()
    assert f'datafoundry_job_records{{name="happy",namespace="{ns}",result="accepted"}} 24.0' in scrape
    assert 'controller_runtime_reconcile_total{controller="datafoundryjob",result="success"}' in scrape


def test_top_up_round_when_too_few_records_pass(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_REJECT_EVERY"] = "2"  # half of every round is rejected
    apply(kube, ns, manifest("topup", s3, s3_prefix, target={"records": 20, "overgenerate": 1.0}))
    obj = wait_phase(kube, ns, "topup", "Succeeded", operator)
    jobs = child_jobs(kube, ns)
    assert "topup-gen-r1" in jobs and "topup-gen-r2" not in jobs
    # Round 0: 20 generated, 10 accepted; round 1 asks for 10 / 0.5 * 1.1 = 22.
    assert jobs["topup-gen-r1"].spec.template.spec.containers[0].args[-1] == "22"
    assert obj["status"]["progress"]["round"] == 2
    assert obj["status"]["output"]["records"] == 20


def test_shard_retry_then_success(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_FAIL"] = "generate:1:once"
    apply(kube, ns, manifest("retry", s3, s3_prefix))
    wait_phase(kube, ns, "retry", "Succeeded", operator)
    gen_runs = pod_runner.find("retry-gen-r0-")
    assert sorted(r.exit_code for r in gen_runs) == [0, 0, 1]


def test_permanent_failure_gives_a_clear_condition(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_FAIL"] = "filter:0:always"
    apply(kube, ns, manifest("broken", s3, s3_prefix))
    obj = wait_phase(kube, ns, "broken", "Failed", operator)
    failed = next(c for c in obj["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BadInput"
    assert "broken-filter-r0-s0" in failed["message"] and "seeds line 3: not valid JSON" in failed["message"]
    # Exit code 3 is not retried: the pod failure policy failed the shard at once.
    assert len(pod_runner.find("broken-filter-r0-s0-")) == 1
    # kopf posts Events asynchronously, after the status write.
    wait_for("a Warning event", lambda: any(
        e.type == "Warning" and e.reason == "Failed" for e in events(kube, ns, "broken")), timeout=30, op=operator)


def test_suspend_and_resume_keeps_finished_shards(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "3"
    apply(kube, ns, manifest("pause", s3, s3_prefix))
    wait_for("a filter shard to finish", lambda: any(
        (j.status.succeeded or 0) > 0 for name, j in child_jobs(kube, ns).items() if "-filter-" in name), op=operator)
    k8s.CustomObjectsApi(kube.api).patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "pause", {"spec": {"suspend": True}})
    wait_phase(kube, ns, "pause", "Suspended", operator)
    wait_for("unfinished children to be deleted", lambda: all(
        (j.status.succeeded or 0) >= (j.spec.completions or 1) for j in child_jobs(kube, ns).values()), op=operator)
    finished_before = {name for name, j in child_jobs(kube, ns).items() if "-filter-" in name}
    assert finished_before, "a finished filter Job must survive the suspension"
    k8s.CustomObjectsApi(kube.api).patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "pause", {"spec": {"suspend": False}})
    wait_phase(kube, ns, "pause", "Succeeded", operator)
    for name in finished_before:  # not rerun after the resume
        assert len(pod_runner.find(name + "-")) == 1, name


def test_kueue_labels_and_suspended_creation(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    apply(kube, ns, manifest("queued", s3, s3_prefix, queueName="gpu-queue", priorityClassName=None))
    gen = wait_for("the generator Job", lambda: child_jobs(kube, ns).get("queued-gen-r0"), op=operator)
    assert gen.spec.suspend is True
    assert gen.metadata.labels["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    time.sleep(3)
    assert child_jobs(kube, ns)["queued-gen-r0"].spec.suspend is True, "the operator must not unsuspend"
    # Act as Kueue: admit every child Job as it appears.
    def admit() -> bool:
        for name, j in child_jobs(kube, ns).items():
            if j.spec.suspend:
                kube.batch.patch_namespaced_job(name, ns, {"spec": {"suspend": False}})
        return phase(kube, ns, "queued") == "Succeeded"

    try:
        wait_for("the queued job to succeed", admit, timeout=180, op=operator)
    except AssertionError:
        jobs = {n: (j.spec.suspend, j.status.to_dict()) for n, j in child_jobs(kube, ns).items()}
        raise AssertionError(f"jobs: {jobs}\nstatus: {get(kube, ns, 'queued').get('status')}") from None
    for j in child_jobs(kube, ns).values():
        assert j.metadata.labels["kueue.x-k8s.io/queue-name"] == "gpu-queue"


def test_delete_removes_staging_keeps_output_and_collects_children(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    apply(kube, ns, manifest("gone", s3, s3_prefix))
    obj = wait_phase(kube, ns, "gone", "Succeeded", operator)
    uid = obj["metadata"]["uid"]
    staging = f"{s3_prefix}gone/_staging/{uid}/"
    assert s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=staging).get("KeyCount", 0) > 0
    kube.kubectl("delete", "dfj", "gone", "-n", ns, "--wait=true", "--timeout=60s")
    assert s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=staging).get("KeyCount", 0) == 0
    assert s3.client.head_object(Bucket=s3.bucket, Key=f"{s3_prefix}gone/manifest.json")["ContentLength"] > 0
    wait_for("the garbage collector to remove children", lambda: not child_jobs(kube, ns)
             and not kube.core.list_namespaced_config_map(ns, label_selector="datafoundry.io/job-name=gone").items,
             timeout=120, op=operator)


def test_operator_killed_mid_job_finishes_without_duplicating_work(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "2"
    apply(kube, ns, manifest("crash", s3, s3_prefix))
    # The CreatedJob Event is posted after the Job exists: killing the operator between the two
    # loses the Event (Kubernetes Events are best effort), which the count below would mistake for
    # a child never created. So the kill waits for both.
    wait_for("generation to start", lambda: "crash-gen-r0" in child_jobs(kube, ns) and any(
        "crash-gen-r0" in (e.message or "") for e in events(kube, ns, "crash") if e.reason == "CreatedJob"),
        op=operator)
    operator.kill()
    time.sleep(4)  # workers finish while nobody watches
    operator.start()
    obj = wait_phase(kube, ns, "crash", "Succeeded", operator)
    for prefix in ("crash-gen-r0-", "crash-filter-r0-s0-", "crash-filter-r0-s1-", "crash-dedup-r0-", "crash-publish-"):
        assert len(pod_runner.find(prefix)) == (2 if prefix == "crash-gen-r0-" else 1), prefix
    def created() -> list[str]:
        return created_children(e.message for e in events(kube, ns, "crash") if e.reason == "CreatedJob")

    wait_for("the CreatedJob Events", lambda: len(created()) >= 5, timeout=30, op=operator)
    time.sleep(2)  # Events are posted asynchronously: a duplicate would come after the fifth
    children = created()
    assert sorted(children) == sorted(set(children)) and len(children) == 5, children
    assert obj["status"]["output"]["records"] == 20

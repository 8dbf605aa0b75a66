"""GPU-hours on the test bed: generator pods with `gpusPerShard: 1` on kwok GPU nodes (nvidia.com/gpu: 8),
run by the pod runner, which reports container startedAt/finishedAt as a kubelet does. The operator
counts them into status.progress.gpuHours and datafoundry_job_gpu_seconds, hands them to the publish pod,
and `spec.budget.maxGPUHours` ends the job. Also: status.planHash stays the hash of the plan ConfigMap
after a budget raise and an operator restart."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from test_operator import apply, child_jobs, events, get, manifest, wait_for, wait_phase

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.pipeline import layout
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import Operator
from datafoundry.testing.testbed import S3, Kube
from datafoundry.testing.workers import WorkerJob

pytestmark = pytest.mark.integration


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def generator_gpu_hours(kube: Kube, ns: str, job: str) -> tuple[float, int]:
    """GPU-hours of the job's generator pods from their own timestamps, and how many pods."""
    pods = kube.core.list_namespaced_pod(ns, label_selector=f"datafoundry.io/job-name={job},"
                                                            "datafoundry.io/stage=generate").items
    total = 0.0
    for pod in pods:
        gpus = int(pod.spec.containers[0].resources.limits["nvidia.com/gpu"])
        end = pod.status.container_statuses[0].state.terminated.finished_at
        total += gpus * (_time(end) - _time(pod.status.start_time)).total_seconds() / 3600
    return total, len(pods)


def near(counted: float, hours: float, pods: int) -> bool:
    """The operator's count against the pods' timestamps: never less; more by under a second a pod at most
    (timestamps have whole seconds, and a live count taken in a pod's last second is not taken back)."""
    return hours - 1e-6 <= counted <= hours + pods / 3600 + 1e-6


def gauge(scrape: str, ns: str, job: str) -> float:
    """The GPU-hours the operator's gauge says (it counts GPU-seconds: Prometheus' base unit)."""
    match = re.search(rf'^datafoundry_job_gpu_seconds{{name="{job}",namespace="{ns}"}} (\S+)$', scrape, re.MULTILINE)
    assert match, f"no datafoundry_job_gpu_seconds for {job}"
    return float(match.group(1)) / 3600


def test_gpu_budget_spent_before_the_target_fails_with_budget_exhausted(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_REJECT_EVERY"] = "2"  # half of every round is rejected: a top-up is due
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "2"  # each generator pod holds its GPU for 2 s at least
    apply(kube, ns, manifest("gpubudget", s3, s3_prefix, target={"records": 20, "overgenerate": 1.0},
                             budget={"maxRounds": 3, "maxGPUHours": 0.0005}))
    obj = wait_phase(kube, ns, "gpubudget", "Failed", operator)
    status = obj["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BudgetExhausted"
    assert "accepted 10 of 20 records" in failed["message"]
    assert "spec.budget.maxGPUHours=0.0005" in failed["message"] and "round 2 is not started" in failed["message"]
    assert "gpubudget-gen-r1" not in child_jobs(kube, ns), "no top-up round once the GPU budget is spent"
    # The hours are the generator pods' own: 2 pods x 1 GPU x their time from startTime to finishedAt.
    hours, pods = generator_gpu_hours(kube, ns, "gpubudget")
    assert pods == 2 and hours >= 2 * 2 / 3600
    assert near(status["progress"]["gpuHours"], hours, pods), (status["progress"], hours)
    assert status["progress"]["gpuHoursOfDeletedPods"] == 0
    assert gauge(operator.metrics(), ns, "gpubudget") == pytest.approx(status["progress"]["gpuHours"], abs=1e-6)
    wait_for("a Warning event", lambda: any(e.type == "Warning" and e.reason == "Failed" and "maxGPUHours" in
                                             (e.message or "") for e in events(kube, ns, "gpubudget")),
             timeout=30, op=operator)


def test_target_met_with_the_gpu_budget_spent_succeeds_with_a_warning(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "2"
    apply(kube, ns, manifest("gpuwarn", s3, s3_prefix, budget={"maxGPUHours": 0.0005}))
    obj = wait_phase(kube, ns, "gpuwarn", "Succeeded", operator)
    status = obj["status"]
    hours, pods = generator_gpu_hours(kube, ns, "gpuwarn")
    assert near(status["progress"]["gpuHours"], hours, pods) and hours > 0.0005
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "Published" and "warning: the generator pods used" in succeeded["message"]
    wait_for("the BudgetExhausted warning", lambda: any(
        e.type == "Warning" and e.reason == "BudgetExhausted" and "maxGPUHours=0.0005" in (e.message or "")
        for e in events(kube, ns, "gpuwarn")), timeout=30, op=operator)
    # The publish pod got the count (for the manifest and the card).
    publish = child_jobs(kube, ns)["gpuwarn-publish"]
    env = {e.name: e.value for e in publish.spec.template.spec.containers[0].env}
    assert float(env["DATAFOUNDRY_GPU_HOURS"]) == pytest.approx(status["progress"]["gpuHours"], abs=1e-6)


def test_gpu_hours_survive_an_operator_restart_and_deleted_pods(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "2"
    pod_runner.extra_env["CONTRACT_WORKER_FAIL"] = "generate:1:once"  # a retried pod: its time counts too
    apply(kube, ns, manifest("gpukept", s3, s3_prefix))
    wait_for("the generator round to finish", lambda: (
        (j := child_jobs(kube, ns).get("gpukept-gen-r0")) is not None and (j.status.succeeded or 0) == 2),
        op=operator)
    hours, pods = generator_gpu_hours(kube, ns, "gpukept")
    assert pods == 3  # shard 1 ran twice
    # Hold the filters back so the job is still running when the operator comes back.
    pod_runner.paused.set()
    # Once no generator pod runs, the final count is written.
    wait_for("the finished pods' hours in the status", lambda: (get(kube, ns, "gpukept")["status"]["progress"]
                                                                .get("gpuHours") or 0) >= hours - 1e-6, op=operator)
    before = get(kube, ns, "gpukept")["status"]["progress"]["gpuHours"]
    operator.kill()
    kube.kubectl("delete", "pods", "-n", ns, "-l", "datafoundry.io/job-name=gpukept,datafoundry.io/stage=generate",
                 "--wait=true", "--timeout=60s")
    operator.start()
    pod_runner.paused.clear()
    obj = wait_phase(kube, ns, "gpukept", "Succeeded", operator)
    progress = obj["status"]["progress"]
    # Nothing lost but what the last status write before the kill had not caught up with (seconds).
    assert before <= progress["gpuHours"] and near(progress["gpuHours"], hours, pods), (before, progress, hours)
    assert progress["gpuHoursOfDeletedPods"] == progress["gpuHours"]  # every generator pod is gone
    assert gauge(operator.metrics(), ns, "gpukept") == pytest.approx(progress["gpuHours"], abs=1e-6)


def test_pods_without_gpus_count_no_gpu_hours(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    body = manifest("gpuzero", s3, s3_prefix, budget={"maxGPUHours": 0.0001})
    body["spec"]["generator"]["gpusPerShard"] = 0
    apply(kube, ns, body)
    obj = wait_phase(kube, ns, "gpuzero", "Succeeded", operator)
    assert obj["status"]["progress"]["gpuHours"] == 0
    assert "warning" not in next(c for c in obj["status"]["conditions"] if c["type"] == "Succeeded")["message"]


def test_plan_hash_stays_the_configmaps_after_a_budget_raise_and_a_restart(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = job_namespace
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "3"
    apply(kube, ns, manifest("planhash", s3, s3_prefix))
    wait_for("the job to start", lambda: (get(kube, ns, "planhash").get("status") or {}).get("startTime"),
             op=operator)
    k8s.CustomObjectsApi(kube.api).patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "planhash", {"spec": {"budget": {"maxRounds": 5}}})
    operator.kill()
    operator.start()  # a new operator: it knows no plan, and the spec's recipe hash is not the plan's now
    obj = wait_phase(kube, ns, "planhash", "Succeeded", operator)
    plan = json.loads(kube.core.read_namespaced_config_map("planhash-plan", ns).data["plan.json"])
    assert plan["spec"]["budget"]["maxRounds"] == 3  # the plan is never rewritten under running pods
    assert obj["status"]["planHash"] == plan["recipeHash"]


def test_the_publish_worker_records_the_hours_in_the_manifest_and_the_card(s3: S3, tmp_path: Path) -> None:
    job = WorkerJob.on_s3(s3, tmp_path)
    job.put("input/a.jsonl", b"".join(json.dumps({"content": f"A sentence number {i} about GPUs and their hours."})
                                      .encode() + b"\n" for i in range(5)))
    job.setup({"target": {"records": 5}, "input": {"uris": [job.uri("input/")], "shards": 1, "textField": "content"},
               "filters": [{"type": "exactDedup"}]})
    job.ok("filter", 0, 0)
    job.ok("dedup", 0)
    rc, _, stderr = job.worker("publish", 0, env={"DATAFOUNDRY_GPU_HOURS": "1.5"})
    assert rc == 0, stderr[-3000:]
    manifest_obj, _ = job.published()
    assert manifest_obj["gpuHours"] == 1.5
    assert "- GPU-hours of the generator pods: 1.5 (" in (job.store.get(layout.CARD) or b"").decode()

"""GPU-hours accounting (pure), spec.budget.maxGPUHours in the state machine, and where the hours are
shown (status, gauge, publish pod, manifest, card, `datafoundry status`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datafoundry.api import keys
from datafoundry.controller import children as ch
from datafoundry.controller import conditions as cond
from datafoundry.controller import gpu, metrics, reasons
from datafoundry.controller.observe import observe, pod_essentials
from datafoundry.controller.owner import Owner
from datafoundry.controller.reconcile import decide
from datafoundry.controller.status import build_status
from datafoundry.pipeline import contract
from datafoundry.pipeline.contract import Progress
from datafoundry.publish import card
from datafoundry.publish import manifest as mf

from .test_reconcile import CONFIG, NAME, NS, UID, _round, created_names, job, make_spec, pod, run

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def gen_pod(uid: str, *, gpus: int = 1, start: float | None = 0, end: float | None = None,
            phase: str | None = None, stage: str = "generate", pod_start: bool = True) -> dict[str, Any]:
    """A raw generator pod as the API server has it (what the informer slims)."""
    state: dict[str, Any] = {}
    if start is not None and end is None:
        state = {"running": {"startedAt": ts(start)}}
    elif start is not None:
        state = {"terminated": {"exitCode": 0, "startedAt": ts(start), "finishedAt": ts(end or 0)}}
    limits = {"memory": "1Gi", **({ch.GPU_RESOURCE: str(gpus)} if gpus else {})}
    status: dict[str, Any] = {"phase": phase or ("Running" if end is None else "Succeeded"),
                              "containerStatuses": [{"state": state}] if state else []}
    if pod_start and start is not None:
        status["startTime"] = ts(start)
    return {
        "metadata": {"name": f"demo-gen-r0-0-{uid}", "uid": uid,
                     "labels": {keys.LABEL_JOB_UID: UID, keys.LABEL_STAGE: stage, keys.LABEL_ROUND: "0",
                                "batch.kubernetes.io/job-name": "demo-gen-r0"},
                     "annotations": {"batch.kubernetes.io/job-completion-index": "0"}},
        "spec": {"containers": [{"name": "generate", "resources": {"limits": limits}}]},
        "status": status,
    }


def slim(*pods: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in (pod_essentials(p) for p in pods) if s is not None]


# -- one pod ---------------------------------------------------------------------------------------------


def test_a_pod_counts_its_gpus_times_the_time_it_held_them() -> None:
    usage = gpu.gpu_usage(gen_pod("a", gpus=2, start=0, end=1800))
    assert usage == {"gpus": 2, "start": ts(0), "end": ts(1800)}
    assert gpu.pod_gpu_seconds(usage, T0 + timedelta(hours=5)) == 3600.0
    # Running: up to now.
    running = gpu.gpu_usage(gen_pod("b", gpus=4, start=0))
    assert running is not None and gpu.pod_gpu_seconds(running, T0 + timedelta(seconds=900)) == 3600.0


def test_pods_without_gpus_or_not_started_count_nothing() -> None:
    assert gpu.gpu_usage(gen_pod("a", gpus=0, start=0, end=3600)) is None  # gpusPerShard 0 / openai engine
    assert gpu.gpu_usage(gen_pod("b", start=None, phase="Pending")) is None  # no node yet: no GPU held


def test_start_falls_back_to_the_container_and_a_lost_pod_ends_at_its_last_condition() -> None:
    no_pod_start = gen_pod("a", start=60, end=120, pod_start=False)
    assert gpu.gpu_usage(no_pod_start) == {"gpus": 1, "start": ts(60), "end": ts(120)}
    lost = gen_pod("b", start=0)
    lost["status"].update(phase="Failed", containerStatuses=[],
                          conditions=[{"type": "Ready", "lastTransitionTime": ts(10)},
                                      {"type": "DisruptionTarget", "lastTransitionTime": ts(300)}])
    usage = gpu.gpu_usage(lost)
    assert usage is not None and gpu.pod_gpu_seconds(usage, T0 + timedelta(days=1)) == 300.0


def test_the_informer_keeps_running_generator_pods_with_gpus_only() -> None:
    running = pod_essentials(gen_pod("a", start=0))
    assert running is not None and running["gpu"]["start"] == ts(0) and running["metadata"]["uid"] == "a"
    assert pod_essentials(gen_pod("b", gpus=0, start=0)) is None  # nothing to count, nothing kept
    assert pod_essentials(gen_pod("c", start=0, stage="filter")) is None  # only generator pods count
    finished = pod_essentials(gen_pod("d", start=0, end=60))
    assert finished is not None and finished["gpu"]["end"] == ts(60)


# -- the job's account ---------------------------------------------------------------------------------


def test_every_pod_counts_retries_included_and_running_pods_up_to_now() -> None:
    pods = slim(gen_pod("a", start=0, end=1800), gen_pod("a-retry", start=1800, end=3600),
                gen_pod("b", gpus=2, start=0))
    acct = gpu.account(None, pods, {}, T0 + timedelta(seconds=1800))
    assert acct.hours == pytest.approx(0.5 + 0.5 + 1.0)
    assert acct.deleted == 0 and acct.running == 1


def test_live_gpu_hours_alone_are_not_worth_a_status_write_but_the_final_count_is() -> None:
    from datafoundry.controller.reconcile_pass import significant as _significant

    old = {"phase": "Generating", "progress": {"accepted": 1, "gpuHours": 0.5}}
    new = {"phase": "Generating", "progress": {"accepted": 1, "gpuHours": 0.75}}
    assert _significant(new, gpu_pods_running=True) == _significant(old, gpu_pods_running=True)
    assert _significant(new) != _significant(old)


def test_deleted_pods_keep_their_hours_and_the_total_never_decreases() -> None:
    a, b = gen_pod("a", start=0, end=3600), gen_pod("b", start=0)
    first = gpu.account(None, slim(a, b), {}, T0 + timedelta(seconds=1800))
    assert first.hours == pytest.approx(1.5)
    # "a" is deleted (pod GC, a suspended Job); "b" runs on.
    second = gpu.account(first, slim(b), {}, T0 + timedelta(seconds=3600))
    assert second.hours == pytest.approx(2.0) and second.deleted_hours == pytest.approx(1.0)
    # "b" ends with a finishedAt before the clock of the last pass: its count does not go back.
    b_done = gen_pod("b", start=0, end=3000)
    third = gpu.account(second, slim(b_done), {}, T0 + timedelta(seconds=3700))
    assert third.hours == pytest.approx(2.0)


def test_a_restarted_operator_rebuilds_the_account_from_the_status() -> None:
    a, b = gen_pod("a", start=0, end=3600), gen_pod("b", start=0)
    before = gpu.account(None, slim(a, b), {}, T0)
    before = gpu.account(before, slim(b), {}, T0 + timedelta(seconds=3600))  # a deleted: 1 h
    status = {"gpuHours": before.hours, "gpuHoursOfDeletedPods": before.deleted_hours}
    assert status == {"gpuHours": pytest.approx(2.0), "gpuHoursOfDeletedPods": pytest.approx(1.0)}
    # Restart an hour later: b ran on meanwhile; nothing was counted twice, nothing lost.
    after = gpu.account(None, slim(b), status, T0 + timedelta(seconds=7200))
    assert after.hours == pytest.approx(3.0) and after.deleted_hours == pytest.approx(1.0)


def test_pods_deleted_while_the_operator_was_down_still_count() -> None:
    pods = [gen_pod("a", start=0, end=3600), gen_pod("b", start=0, end=3600), gen_pod("c", start=0, end=1800)]
    before = gpu.account(None, slim(*pods), {}, T0 + timedelta(hours=2))
    status = {"gpuHours": before.hours, "gpuHoursOfDeletedPods": before.deleted_hours}
    after = gpu.account(None, slim(pods[2]), status, T0 + timedelta(hours=3))  # a and b gone
    assert after.hours == pytest.approx(2.5) and after.deleted_hours == pytest.approx(2.0)


# -- spec.budget.maxGPUHours in the state machine ---------------------------------------------------------


def test_spent_budget_starts_no_further_round_and_fails_when_the_target_is_not_met() -> None:
    jobs, pods = _round(0, accepted=40, generated=200)
    within = run(make_spec(budget={"maxRounds": 3, "maxGPUHours": 2}), jobs, pods)
    assert created_names(within) == ["demo-gen-r1"]
    spec = make_spec(budget={"maxRounds": 3, "maxGPUHours": 2})
    d = decide_with_gpu(spec, jobs, pods, gpu_hours=2.5)
    assert d.creates == [] and d.failed is not None
    reason, message = d.failed
    assert reason == reasons.BUDGET_EXHAUSTED
    assert "accepted 40 of 100" in message and "2.5 GPU-hours of spec.budget.maxGPUHours=2" in message
    status = build_status({}, d, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                          plan_config_map="demo-plan", gpu_hours_of_deleted_pods=0.5)
    assert status["phase"] == "Failed"
    assert status["progress"]["gpuHours"] == 2.5 and status["progress"]["gpuHoursOfDeletedPods"] == 0.5
    assert cond.find(status["conditions"], cond.FAILED)["reason"] == "BudgetExhausted"  # type: ignore[index]


def test_a_round_created_before_the_budget_was_spent_runs_to_its_end() -> None:
    spec = make_spec(budget={"maxRounds": 3, "maxGPUHours": 2})
    jobs, pods = _round(0, accepted=40, generated=200)
    jobs.append(job("demo-gen-r1", "generate", 1, completions=2, completed="0", active=1))
    d = decide_with_gpu(spec, jobs, pods, gpu_hours=3.0)
    assert d.failed is None and d.round == 1
    assert created_names(d) == ["demo-filter-r1-s0"]  # its finished shard goes on to the filter


def test_a_round_interrupted_by_a_suspension_is_not_restarted_once_the_budget_is_spent() -> None:
    spec = make_spec(budget={"maxRounds": 3, "maxGPUHours": 1})
    suspended = make_spec(budget={"maxRounds": 3, "maxGPUHours": 1}, suspend=True)
    d = decide_with_gpu(suspended, [], [], gpu_hours=1.5)
    assert d.suspended and d.failed is None and d.creates == []  # suspended stays suspended
    d = decide_with_gpu(spec, [], [], gpu_hours=1.5)  # resumed: round 0's Job was deleted
    assert d.creates == [] and d.failed is not None and d.failed[0] == reasons.BUDGET_EXHAUSTED


def test_target_met_with_the_budget_spent_publishes_and_succeeds_with_a_warning() -> None:
    spec = make_spec(budget={"maxRounds": 3, "maxGPUHours": 1})
    jobs, pods = _round(0, accepted=120, generated=200)
    d = decide_with_gpu(spec, jobs, pods, gpu_hours=1.25)
    assert created_names(d) == ["demo-publish"]
    env = {e["name"]: e.get("value") for e in d.creates[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[contract.ENV_GPU_HOURS] == "1.25"
    jobs.append(job("demo-publish", "publish", 0, complete=True))
    pods.append(pod("demo-publish", 0, Progress(stage="publish", round=0, shard=0, accepted=100)))
    d = decide_with_gpu(spec, jobs, pods, gpu_hours=1.25)
    assert d.succeeded is not None and d.succeeded[0] == reasons.PUBLISHED
    assert d.warning == ("the generator pods used 1.25 GPU-hours of spec.budget.maxGPUHours=1 "
                         "(the last round ran to its end)")
    status = build_status({}, d, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                          plan_config_map="demo-plan")
    succeeded = cond.find(status["conditions"], cond.SUCCEEDED)
    assert status["phase"] == "Succeeded" and succeeded is not None
    assert succeeded["message"] == f"published 100 records; warning: {d.warning}"


def test_no_budget_no_warning_and_the_publish_pod_still_gets_the_hours() -> None:
    jobs, pods = _round(0, accepted=120, generated=200)
    d = decide_with_gpu(make_spec(), jobs, pods, gpu_hours=0.0)
    env = {e["name"]: e.get("value") for e in d.creates[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[contract.ENV_GPU_HOURS] == "0.0"
    jobs.append(job("demo-publish", "publish", 0, complete=True))
    pods.append(pod("demo-publish", 0, Progress(stage="publish", round=0, shard=0, accepted=100)))
    assert decide_with_gpu(make_spec(), jobs, pods, gpu_hours=99.0).warning is None


def decide_with_gpu(spec: Any, jobs: list[dict[str, Any]], pods: list[dict[str, Any]], gpu_hours: float) -> Any:
    return decide(owner=Owner(NS, NAME, UID), spec=spec, observed=observe(jobs, pods), config=CONFIG,
                  start_time=None, gpu_hours=gpu_hours)


# -- where the hours are shown -------------------------------------------------------------------------------


def test_the_gauge_follows_the_job_and_goes_with_it() -> None:
    metrics.observe_job("ns-gpu", "j", generated=0, accepted=0, target=1, rejected={}, prompt_tokens=0,
                        completion_tokens=0, shards={}, gpu_hours=1.5)
    labels = {"namespace": "ns-gpu", "name": "j"}
    assert metrics.REGISTRY.get_sample_value("datafoundry_job_gpu_seconds", labels) == 5400
    metrics.forget_job("ns-gpu", "j")
    assert metrics.REGISTRY.get_sample_value("datafoundry_job_gpu_seconds", labels) is None


def test_the_manifest_and_the_card_take_the_hours_from_the_publish_pods_environment() -> None:
    assert mf.gpu_hours_from_env({contract.ENV_GPU_HOURS: "0.125"}) == 0.125
    for bad in ("", "-1", "nan", "inf", "many"):
        assert mf.gpu_hours_from_env({contract.ENV_GPU_HOURS: bad}) is None, bad
    assert mf.gpu_hours_from_env({}) is None  # datafoundry run: not counted
    assert card.gpu_line(0.125) == ["- GPU-hours of the generator pods: 0.125 (GPUs x the time each pod held "
                                    "them, retries included)"]
    assert card.gpu_line(None) == []


def test_datafoundry_status_shows_the_hours() -> None:
    from ..test_inspector import JOB, rendered

    job = {**JOB, "status": {**JOB["status"], "progress": {**JOB["status"]["progress"], "gpuHours": 12.3456}}}
    lines = [" ".join(line.split()) for line in rendered(job).splitlines()]
    assert "GPU-hours (generator pods) 12.35" in lines
    assert not any(line.startswith("GPU-hours") for line in (" ".join(x.split()) for x in rendered(JOB).splitlines()))

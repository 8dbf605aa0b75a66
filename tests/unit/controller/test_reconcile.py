"""The pure state machine: given what exists, what the operator creates, deletes and reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from datafoundry.api import keys
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller import conditions as cond
from datafoundry.controller import reasons
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.observe import observe, parse_indexes
from datafoundry.controller.owner import Owner
from datafoundry.controller.reconcile import Decision, decide, refused
from datafoundry.controller.status import build_status
from datafoundry.pipeline.contract import EXIT_BAD_INPUT, Progress, termination_message
from datafoundry.testing import specs

NAME, NS, UID = "demo", "team-a", "11111111-2222-3333-4444-555555555555"
OWNER = Owner(NS, NAME, UID)
CONFIG = OperatorConfig()


def make_spec(**overrides: Any) -> DataFoundryJobSpec:
    """Over-generating twice, at most three rounds."""
    return specs.make_spec(**{"target": {"records": 100, "overgenerate": 2.0}, "budget": {"maxRounds": 3},
                              **overrides})


def job(name: str, stage: str, round_: int, *, shard: int | None = None, completions: int = 1,
        completed: str = "", complete: bool = False, failed: bool = False, active: int = 0,
        args: list[str] | None = None) -> dict[str, Any]:
    labels = {keys.LABEL_JOB_UID: UID, keys.LABEL_STAGE: stage, keys.LABEL_ROUND: str(round_)}
    if shard is not None:
        labels[keys.LABEL_SHARD] = str(shard)
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": "FailedIndexes", "message": "boom"})
    indexed = stage == "generate"
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"completions": completions, **({"completionMode": "Indexed"} if indexed else {}),
                 "template": {"spec": {"containers": [{"args": args or []}]}}},
        "status": {"completedIndexes": completed, "succeeded": completions if complete else 0,
                   "active": active, "conditions": conditions},
    }


def pod(job_name: str, index: int, progress: Progress | None, *, phase: str = "Succeeded",
        exit_code: int = 0, message: str | None = None) -> dict[str, Any]:
    text = message if message is not None else (termination_message(progress) if progress else "")
    return {
        "metadata": {"labels": {"batch.kubernetes.io/job-name": job_name},
                     "annotations": {"batch.kubernetes.io/job-completion-index": str(index)}},
        "status": {"phase": phase, "containerStatuses": [
            {"state": {"terminated": {"exitCode": exit_code, "message": text}}}]},
    }


def run(spec: DataFoundryJobSpec, jobs: list[dict[str, Any]], pods: list[dict[str, Any]] | None = None,
        start: datetime | None = None, now: datetime | None = None) -> Decision:
    return decide(owner=OWNER, spec=spec, observed=observe(jobs, pods or []),
                  config=CONFIG, start_time=start, now=now)


def created_names(d: Decision) -> list[str]:
    return [o["metadata"]["name"] for o in d.creates]


def test_parse_indexes() -> None:
    assert parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_indexes("") == frozenset()


def test_first_pass_creates_round_zero_generator_sized_by_overgenerate() -> None:
    d = run(make_spec(), [])
    assert created_names(d) == ["demo-gen-r0"]
    gen = d.creates[0]
    assert gen["spec"]["completionMode"] == "Indexed" and gen["spec"]["completions"] == 2
    args = gen["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--records") + 1] == "200"
    assert d.stage == "Generating"


def test_filter_job_starts_per_finished_shard_without_waiting_for_the_rest() -> None:
    gen = job("demo-gen-r0", "generate", 0, completions=2, completed="1", active=1)
    d = run(make_spec(), [gen], [pod("demo-gen-r0", 1, Progress(stage="generate", round=0, shard=1, generated=90))])
    assert created_names(d) == ["demo-filter-r0-s1"]
    assert d.counts.generated == 90
    assert d.shards["generate"].succeeded == 1 and d.shards["generate"].active == 1


def test_a_refused_child_fails_the_job_in_a_new_decision_that_stops_the_running_children() -> None:
    gen = job("demo-gen-r0", "generate", 0, completions=2, completed="1", active=1)
    observed = observe([gen], [pod("demo-gen-r0", 1, Progress(stage="generate", round=0, shard=1, generated=90))])
    d = decide(owner=OWNER, spec=make_spec(), observed=observed, config=CONFIG, start_time=None)
    out = refused(d, observed, "jobs.batch is forbidden: exceeded quota")
    assert out.failed == (reasons.FAILED_TO_CREATE_JOB, "jobs.batch is forbidden: exceeded quota")
    assert out.creates == [] and out.deletes == ["demo-gen-r0"]
    assert out.counts.generated == 90 and out.stage == d.stage
    assert d.failed is None and created_names(d) == ["demo-filter-r0-s1"] and d.deletes == [], "d is unchanged"
    status = build_status({}, out, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                          plan_config_map="demo-plan")
    assert status["phase"] == "Failed"

def _round(round_: int, *, accepted: int, generated: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    jobs = [job(f"demo-gen-r{round_}", "generate", round_, completions=2, completed="0-1", complete=True)]
    jobs += [job(f"demo-filter-r{round_}-s{k}", "filter", round_, shard=k, complete=True) for k in (0, 1)]
    jobs.append(job(f"demo-dedup-r{round_}", "dedup", round_, complete=True))
    summary = Progress(stage="dedup", round=round_, shard=0, generated=generated, accepted=accepted,
                       rejected={"minhash": 3})
    return jobs, [pod(f"demo-dedup-r{round_}", 0, summary)]


def test_dedup_after_all_filters_then_top_up_round_when_short() -> None:
    jobs, pods = _round(0, accepted=40, generated=200)
    d = run(make_spec(), jobs[:-1], [])
    assert created_names(d) == ["demo-dedup-r0"] and d.stage == "Filtering"
    d = run(make_spec(), jobs, pods)
    assert created_names(d) == ["demo-gen-r1"]
    args = d.creates[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    # 60 missing at an acceptance of 40/200 = 300, plus 10% headroom.
    assert args[args.index("--records") + 1] == "330"
    assert d.round == 1


def test_publish_when_target_met_then_succeeded_with_output() -> None:
    jobs, pods = _round(0, accepted=120, generated=200)
    d = run(make_spec(), jobs, pods)
    assert created_names(d) == ["demo-publish"] and d.stage == "Publishing"
    jobs.append(job("demo-publish", "publish", 0, complete=True))
    quality = {"distinct2": 0.61, "selfBleu": 0.12, "domainSimilarity": None, "warnings": 1,
               "reportUri": "s3://bucket/out/quality.json", "futureIndicator": 3.0}
    pods.append(pod("demo-publish", 0, Progress(stage="publish", round=0, shard=0, accepted=100,
                                              bytes_written=1234, manifest_uri="s3://bucket/out/manifest.json",
                                              quality=quality)))
    d = run(make_spec(), jobs, pods)
    assert d.creates == [] and d.succeeded is not None and d.succeeded[0] == reasons.PUBLISHED
    status = build_status({}, d, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                          plan_config_map="demo-plan")
    assert status["phase"] == "Succeeded"
    assert status["output"]["records"] == 100 and status["output"]["bytes"] == 1234
    # the report's headline indicators, only the keys the status schema has, no nulls
    assert status["output"]["quality"] == {"distinct2": 0.61, "selfBleu": 0.12, "warnings": 1,
                                           "reportUri": "s3://bucket/out/quality.json"}
    assert cond.is_true(status["conditions"], cond.SUCCEEDED)
    assert "completionTime" in status


def test_budget_spent_publishes_what_it_has() -> None:
    spec = make_spec(budget={"maxRounds": 1})
    jobs, pods = _round(0, accepted=40, generated=200)
    d = run(spec, jobs, pods)
    assert created_names(d) == ["demo-publish"]


def test_failed_shard_fails_job_and_names_the_cause() -> None:
    gen = job("demo-gen-r0", "generate", 0, completions=2, completed="0", failed=True)
    failure = pod("demo-gen-r0", 1, None, phase="Failed", exit_code=EXIT_BAD_INPUT,
                  message="seeds line 3: not valid JSON")
    d = run(make_spec(), [gen], [failure])
    assert d.failed is not None
    reason, message = d.failed
    assert reason == reasons.BAD_INPUT and "seeds line 3" in message


def test_suspend_deletes_unfinished_children_and_creates_nothing() -> None:
    gen = job("demo-gen-r0", "generate", 0, completions=2, completed="0", active=1)
    d = run(make_spec(suspend=True), [gen])
    assert d.deletes == ["demo-gen-r0"] and d.creates == [] and d.suspended
    status = build_status({}, d, generation=2, target=100, output_uri="s3://bucket/out", plan_hash="h",
                          plan_config_map="demo-plan")
    assert status["phase"] == "Suspended"
    resumed = build_status(status, run(make_spec(), []), generation=3, target=100, output_uri="s3://bucket/out",
                           plan_hash="h", plan_config_map="demo-plan")
    suspended = cond.find(resumed["conditions"], cond.SUSPENDED)
    assert suspended is not None and suspended["status"] == "False" and resumed["phase"] == "Generating"


def test_deadline_fails_and_stops_children() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    gen = job("demo-gen-r0", "generate", 0, completions=2, active=2)
    d = run(make_spec(activeDeadlineSeconds=60), [gen], start=start, now=start + timedelta(seconds=61))
    assert d.failed is not None and d.failed[0] == reasons.DEADLINE_EXCEEDED
    assert d.deletes == ["demo-gen-r0"]


def test_queue_name_creates_suspended_jobs_with_kueue_label() -> None:
    d = run(make_spec(queueName="gpu-queue"), [])
    gen = d.creates[0]
    assert gen["spec"]["suspend"] is True
    assert gen["metadata"]["labels"][keys.LABEL_KUEUE_QUEUE] == "gpu-queue"
    unqueued = run(make_spec(), []).creates[0]
    assert unqueued["spec"]["suspend"] is False
    assert keys.LABEL_KUEUE_QUEUE not in unqueued["metadata"]["labels"]


def test_curation_mode_filters_input_shards_directly() -> None:
    spec = make_spec(generator=None, task=None, input={"uris": ["s3://bucket/raw/"], "shards": 3})
    d = run(spec, [])
    assert created_names(d) == ["demo-filter-r0-s0", "demo-filter-r0-s1", "demo-filter-r0-s2"]


def test_child_names_fit_label_values() -> None:
    name = ch.child_name("a" * 60, "filter-r2-s1023")
    assert len(name) <= 63 and name.endswith("filter-r2-s1023")
    assert ch.child_name("a" * 60, "filter-r2-s1023") == name


def test_conditions_keep_transition_time_when_status_unchanged() -> None:
    c = cond.set_condition([], cond.PROGRESSING, "True", "A", "m", 1, now="2026-01-01T00:00:00Z")
    c = cond.set_condition(c, cond.PROGRESSING, "True", "B", "m2", 2, now="2026-01-02T00:00:00Z")
    assert c[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and c[0]["reason"] == "B"
    c = cond.set_condition(c, cond.PROGRESSING, "False", "C", "m3", 2, now="2026-01-03T00:00:00Z")
    assert c[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"


def test_worker_pods_are_restricted_and_never_see_secret_values() -> None:
    gen = run(make_spec(), []).creates[0]
    pod_spec = gen["spec"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["serviceAccountName"] == CONFIG.worker_service_account
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    container = pod_spec["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]


def test_judge_endpoint_key_reaches_the_scoring_pods_by_reference_only() -> None:
    judge = {"type": "judge", "model": "org/judge", "engine": {
        "type": "openai", "endpoint": "http://judge.serving:8000/v1",
        "apiKeySecretRef": {"name": "judge-key", "key": "token"}}}
    ref = {"name": "DATAFOUNDRY_JUDGE_API_KEY", "valueFrom": {"secretKeyRef": {"name": "judge-key", "key": "token"}}}
    spec = make_spec(filters=[judge])
    gen = ch.generate_job(Owner("ns", "j", "uid"), spec, CONFIG, 0, 10)
    assert ref in gen["spec"]["template"]["spec"]["containers"][0]["env"]
    # Generated records are already scored: the filter pods of a generation job need no key.
    filt = ch.filter_job(Owner("ns", "j", "uid"), spec, CONFIG, 0, 0)
    assert ref not in filt["spec"]["template"]["spec"]["containers"][0]["env"]
    curation = DataFoundryJobSpec.model_validate({
        "input": {"uris": ["s3://bucket/in/"]}, "target": {"records": 5}, "filters": [judge],
        "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}}})
    filt = ch.filter_job(Owner("ns", "j", "uid"), curation, CONFIG, 0, 0)
    assert ref in filt["spec"]["template"]["spec"]["containers"][0]["env"]


def test_finished_filter_whose_pod_is_not_seen_yet_counts_its_live_progress() -> None:
    # The Job's watch event can arrive before its pod's: the counts must not drop meanwhile.
    gen = job("demo-gen-r0", "generate", 0, completions=2, completed="0-1", complete=True)
    filters = [job(f"demo-filter-r0-s{k}", "filter", 0, shard=k, complete=True) for k in (0, 1)]
    pods = [pod("demo-filter-r0-s0", 0, Progress(stage="filter", round=0, shard=0, accepted=30))]
    live = {("filter", 0, 1): Progress(stage="filter", round=0, shard=1, accepted=25, state="done")}
    observed = observe([gen, *filters], pods)
    d = decide(owner=OWNER, spec=make_spec(), observed=observed, config=CONFIG, live=live,
               start_time=None)
    assert d.counts.accepted == 55
    # Without live progress only the seen pod counts.
    assert decide(owner=OWNER, spec=make_spec(), observed=observed,
                  config=CONFIG, start_time=None).counts.accepted == 30


def _one_pod_jobs() -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str]]:
    """(name, the jobs and pods before it, the stage it is part of) for the dedup Job of a short round
    and the publish Job of a round that met the target."""
    short_jobs, _ = _round(0, accepted=40, generated=200)
    met_jobs, met_pods = _round(0, accepted=120, generated=200)
    return [("demo-dedup-r0", short_jobs[:-1], [], "Filtering"), ("demo-publish", met_jobs, met_pods, "Publishing")]


def test_a_one_pod_job_runs_then_its_report_is_awaited_then_missing_fails_the_job() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for name, jobs, pods, stage in _one_pod_jobs():
        kind = name.split("-")[1]
        running = run(make_spec(), [*jobs, job(name, kind, 0, active=1)], pods)
        assert running.creates == [] and running.failed is None and running.stage == stage
        assert running.shards["publish"].active == 1
        done = job(name, kind, 0, complete=True)
        done["status"]["completionTime"] = t0.isoformat().replace("+00:00", "Z")
        waiting = run(make_spec(), [*jobs, done], pods, now=t0 + timedelta(seconds=60))
        assert waiting.failed is None and waiting.waiting == f"waiting for the result of {name}"
        assert waiting.stage == stage
        missing = run(make_spec(), [*jobs, done], pods, now=t0 + timedelta(seconds=600))
        what = "its counts" if kind == "dedup" else "the dataset"
        assert missing.failed == (reasons.MISSING_RESULT, f"{kind} Job {name} finished without reporting {what}")
        failed = run(make_spec(), [*jobs, job(name, kind, 0, failed=True)], pods)
        assert failed.failed is not None and failed.failed[1].startswith(f"{kind} Job {name}")
        assert failed.creates == []

"""What the status says while Kueue holds a job's child Jobs (spec.queueName): queued, admitted, preempted."""

from __future__ import annotations

from typing import Any

from datafoundry.controller import conditions as cond
from datafoundry.controller import reasons
from datafoundry.controller.observe import child_job, job_essentials, observe
from datafoundry.controller.reconcile import Decision, decide
from datafoundry.controller.status import build_status
from datafoundry.controller.status_events import status_events

from .test_reconcile import CONFIG, OWNER, job, make_spec

SPEC = make_spec(queueName="gpu-queue")


def suspended(body: dict[str, Any], suspend: bool = True, failed: int = 0) -> dict[str, Any]:
    body["spec"]["suspend"] = suspend
    body["status"]["failed"] = failed
    return body


def run(jobs: list[dict[str, Any]], started: tuple[str, ...] = ()) -> Decision:
    return decide(owner=OWNER, spec=SPEC, observed=observe(jobs, []), config=CONFIG, start_time=None,
                  started=started)


def status(d: Decision, old: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_status(old or {}, d, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                        plan_config_map="demo-plan")


def progressing(s: dict[str, Any]) -> dict[str, Any]:
    c = cond.find(s["conditions"], cond.PROGRESSING)
    assert c is not None
    return c


def test_child_job_reads_suspend_and_whether_it_ran_also_from_its_slim_copy() -> None:
    gen = suspended(job("demo-gen-r0", "generate", 0, completions=2, completed="0"))
    assert child_job(gen).suspended and child_job(gen).ran
    assert child_job(job_essentials(gen)) == child_job(gen)
    fresh = suspended(job("demo-gen-r0", "generate", 0, completions=2))
    assert child_job(fresh).suspended and not child_job(fresh).ran
    assert child_job(suspended(job("x", "generate", 0, completions=2), failed=1)).ran


def test_a_queued_generator_says_it_waits_for_kueue_and_names_the_queue() -> None:
    d = run([suspended(job("demo-gen-r0", "generate", 0, completions=2))])
    s = status(d)
    assert progressing(s)["reason"] == reasons.WAITING_FOR_ADMISSION
    assert "waiting for Kueue admission of demo-gen-r0 in LocalQueue gpu-queue" in progressing(s)["message"]
    assert s["phase"] == "Generating"


def test_admitted_then_suspended_again_is_preempted_with_an_event_and_kept_shards() -> None:
    running = run([suspended(job("demo-gen-r0", "generate", 0, completions=2, active=2), suspend=False)])
    before = status(running)
    assert progressing(before)["reason"] == reasons.STAGE_RUNNING
    # The operator saw it admitted; Kueue suspends it after index 0 finished.
    stopped = run([suspended(job("demo-gen-r0", "generate", 0, completions=2, completed="0"))],
                  started=("demo-gen-r0",))
    after = status(stopped, before)
    p = progressing(after)
    assert p["reason"] == reasons.PREEMPTED and p["status"] == "True"
    assert "Kueue suspended demo-gen-r0 after it had started" in p["message"] and "1 finished shard(s)" in p["message"]
    events = status_events(before, after)
    assert [e.reason for e in events] == [reasons.PREEMPTED]
    # Admitted again: running, and one more Event says so.
    again = status(running, after)
    assert progressing(again)["reason"] == reasons.STAGE_RUNNING
    assert [e.reason for e in status_events(after, again)] == [reasons.STAGE_RUNNING]


def test_preempted_without_finished_pods_is_known_only_from_having_seen_it_admitted() -> None:
    gen = suspended(job("demo-gen-r0", "generate", 0, completions=2))
    assert run([gen]).admission is not None and run([gen]).admission[0] == reasons.WAITING_FOR_ADMISSION  # type: ignore[index]
    assert run([gen], started=("demo-gen-r0",)).admission[0] == reasons.PREEMPTED  # type: ignore[index]


def test_preempted_stays_preempted_across_an_operator_restart_until_admitted() -> None:
    gen = suspended(job("demo-gen-r0", "generate", 0, completions=2))
    preempted = status(run([gen], started=("demo-gen-r0",)))
    restarted = status(run([gen]), preempted)  # a new operator remembers nothing
    assert progressing(restarted)["reason"] == reasons.PREEMPTED
    assert status_events(preempted, restarted) == []


def test_a_queued_child_next_to_a_running_one_is_noted_without_changing_the_reason() -> None:
    gen = suspended(job("demo-gen-r0", "generate", 0, completions=2, completed="0", active=1), suspend=False)
    filt = suspended(job("demo-filter-r0-s0", "filter", 0, shard=0))
    p = progressing(status(run([gen, filt], started=("demo-gen-r0",))))
    assert p["reason"] == reasons.STAGE_RUNNING
    assert "demo-filter-r0-s0 waiting for Kueue admission in LocalQueue gpu-queue" in p["message"]


def test_a_job_suspended_by_its_own_spec_is_not_kueues_doing() -> None:
    gen = suspended(job("demo-gen-r0", "generate", 0, completions=2))
    d = decide(owner=OWNER, spec=make_spec(queueName="q", suspend=True), observed=observe([gen], []),
               config=CONFIG, start_time=None, started=("demo-gen-r0",))
    assert d.admission is None

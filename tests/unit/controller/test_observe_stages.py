"""Child Jobs that run no pod, and the stages whose Jobs all completed (pure parts of `observe`)."""

from __future__ import annotations

from typing import Any

from datafoundry.controller.observe import (
    child_job,
    child_job_states,
    finished_stages,
    job_essentials,
    one_job_stage_counts,
)


def job(name: str, stage: str, round_: int = 0, *, created: str = "2026-01-01T00:00:00Z",
        completed: str | None = None, active: int = 0, suspend: bool = False, failed: bool = False) -> dict[str, Any]:
    conditions = []
    if completed:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"})
    return job_essentials({
        "metadata": {"name": name, "creationTimestamp": created, "managedFields": [{"big": "x"}],
                     "labels": {"datafoundry.io/stage": stage, "datafoundry.io/round": str(round_)}},
        "spec": {"completions": 1, "suspend": suspend, "template": {"spec": {}}},
        "status": {"active": active, "conditions": conditions, **({"completionTime": completed} if completed else {})},
    })


def test_child_jobs_without_pods_and_suspended_ones() -> None:
    jobs = [child_job(j) for j in (
        job("a", "generate", active=2),  # running
        job("b", "filter"),  # no pod although not suspended: the pods-not-created case
        job("c", "filter", suspend=True),  # held by Kueue
        job("d", "dedup", completed="2026-01-01T00:10:00Z"),  # done
        job("e", "publish", failed=True),  # failed: no pod expected
    )]
    assert child_job_states(jobs) == {"suspended": 1, "without_pods": 1}


def test_a_stage_is_timed_once_all_its_jobs_completed() -> None:
    jobs = [child_job(j) for j in (
        job("gen", "generate", created="2026-01-01T00:00:00Z", completed="2026-01-01T00:05:00Z"),
        job("f0", "filter", created="2026-01-01T00:05:01Z", completed="2026-01-01T00:06:00Z"),
        job("f1", "filter", created="2026-01-01T00:05:02Z"),  # still running
        job("gen1", "generate", 1, created="2026-01-01T00:10:00Z", completed="2026-01-01T00:10:30Z"),
    )]
    spans = finished_stages(jobs)
    assert [(s.stage, s.round, s.seconds) for s in spans] == [("generate", 0, 300.0), ("generate", 1, 30.0)]


def test_dedup_and_publish_counted_apart() -> None:
    jobs = [child_job(j) for j in (
        job("dd0", "dedup", completed="2026-01-01T00:10:00Z"),
        job("dd1", "dedup", 1, active=1),  # the second round's dedup runs
        job("pub", "publish", failed=True),
    )]
    assert one_job_stage_counts(jobs, "dedup") == {"active": 1, "succeeded": 1, "failed": 0}
    assert one_job_stage_counts(jobs, "publish") == {"active": 0, "succeeded": 0, "failed": 1}

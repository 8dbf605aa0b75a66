"""The operator's metrics: per-job series and their grace period, the phase gauge, the memory limit."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from datafoundry.controller import metrics


def sample(metric: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(metric, labels)


def test_the_phase_gauge_is_one_for_the_current_phase_only() -> None:
    metrics.set_phase("ns-m", "a", "Generating", "uid-a")
    metrics.set_phase("ns-m", "a", "Failed", "uid-a")
    assert sample("datafoundry_job_phase", namespace="ns-m", name="a", phase="Failed") == 1
    assert sample("datafoundry_job_phase", namespace="ns-m", name="a", phase="Generating") == 0
    assert {sample("datafoundry_job_phase", namespace="ns-m", name="a", phase=p) for p in metrics.PHASES} == {0, 1}
    metrics.forget_job("ns-m", "a")
    assert sample("datafoundry_job_phase", namespace="ns-m", name="a", phase="Failed") is None


def test_forgetting_a_finished_job_spares_a_new_job_of_the_same_name() -> None:
    metrics.set_phase("ns-m", "b", "Failed", "uid-old")
    metrics.observe_job("ns-m", "b", generated=5, accepted=3, target=10, rejected={"length": 2}, prompt_tokens=1,
                        completion_tokens=2, shards={}, eta_seconds=30, child_jobs={"without_pods": 1}, uid="uid-new")
    metrics.forget_job("ns-m", "b", "uid-old")  # the old job's grace period ends after the new one started
    assert sample("datafoundry_job_records", namespace="ns-m", name="b", result="accepted") == 3
    assert sample("datafoundry_job_eta_seconds", namespace="ns-m", name="b") == 30
    assert sample("datafoundry_job_child_jobs", namespace="ns-m", name="b", state="without_pods") == 1
    metrics.forget_job("ns-m", "b", "uid-new")
    for gauge in metrics.PER_JOB:
        assert not [labels for labels in gauge._metrics if labels[:2] == ("ns-m", "b")], gauge


def test_an_unknown_eta_removes_the_series() -> None:
    kw = {"generated": 0, "accepted": 0, "target": 1, "rejected": {}, "prompt_tokens": 0, "completion_tokens": 0,
          "shards": {}}
    metrics.observe_job("ns-m", "c", eta_seconds=12, **kw)  # type: ignore[arg-type]
    metrics.observe_job("ns-m", "c", eta_seconds=None, **kw)  # type: ignore[arg-type]
    assert sample("datafoundry_job_eta_seconds", namespace="ns-m", name="c") is None
    metrics.forget_job("ns-m", "c")


def test_the_grace_period_counts_from_completion_time() -> None:
    assert metrics.remaining_grace(1000.0, 600, now=1100.0) == 500
    assert metrics.remaining_grace(1000.0, 600, now=5000.0) == 0  # found long finished at start-up
    assert metrics.remaining_grace(None, 600, now=1100.0) == 0


def test_memory_limit_from_cgroup_v2_v1_or_none(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert metrics.memory_limit_bytes((v2, v1)) is None
    v1.write_text("1073741824\n")
    assert metrics.memory_limit_bytes((v2, v1)) == 1 << 30
    v1.write_text("9223372036854771712\n")  # cgroup v1's "no limit"
    assert metrics.memory_limit_bytes((v2, v1)) is None
    v2.write_text("max\n")
    assert metrics.memory_limit_bytes((v2, v1)) is None
    v2.write_text("536870912\n")
    assert metrics.memory_limit_bytes((v2, v1)) == 1 << 29


def test_the_memory_limit_gauge_has_no_sample_without_a_limit() -> None:
    with_limit, without = CollectorRegistry(), CollectorRegistry()
    with_limit.register(metrics.MemoryLimitCollector(lambda: 1 << 30))
    without.register(metrics.MemoryLimitCollector(lambda: None))
    assert with_limit.get_sample_value("datafoundry_operator_memory_limit_bytes") == 1 << 30
    assert without.get_sample_value("datafoundry_operator_memory_limit_bytes") is None
    assert b"# TYPE datafoundry_operator_memory_limit_bytes gauge" in generate_latest(without)


def test_build_info_after_preinitialise() -> None:
    metrics.preinitialise()
    (labels,) = [s.labels for m in metrics.build_info.collect() for s in m.samples]
    assert labels["version"] and labels["python_version"]

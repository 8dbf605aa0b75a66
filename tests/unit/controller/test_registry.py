"""Per-job memory: only a daemon opens an entry; wakes and counts never create one."""

from __future__ import annotations

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller.registry import JobRegistry


def test_waking_an_unknown_uid_creates_no_entry() -> None:
    jobs = JobRegistry()
    jobs.wake("nobody")
    jobs.wake(None)
    jobs.wake_all({"a", "b"})
    assert len(jobs) == 0 and jobs.get("nobody") is None


def test_open_returns_the_same_entry_until_it_is_forgotten() -> None:
    jobs = JobRegistry()
    state = jobs.open("a")
    assert jobs.open("a") is state
    jobs.wake("a")
    assert state.wake.is_set()
    jobs.forget("a")
    jobs.forget("a")  # forgetting twice is harmless (kopf retries a deletion handler)
    assert "a" not in jobs and jobs.open("a") is not state


def test_the_spec_is_reused_only_at_its_generation() -> None:
    state = JobRegistry().open("a")
    assert state.spec_of(1) is None
    spec = DataFoundryJobSpec.model_construct()
    state.spec = (1, spec)
    assert state.spec_of(1) is spec and state.spec_of(2) is None


def test_phases_count_the_supervised_jobs_that_have_one() -> None:
    jobs = JobRegistry()
    jobs.open("a").phase = "Generating"
    jobs.open("b").phase = "Generating"
    jobs.open("c").phase = "Succeeded"
    jobs.open("d")
    assert jobs.phases() == {"Generating": 2, "Succeeded": 1}
    jobs.forget("a")
    assert jobs.phases() == {"Generating": 1, "Succeeded": 1}

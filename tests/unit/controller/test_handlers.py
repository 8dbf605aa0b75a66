"""The kopf layer: handlers reach their state through the memo, and a deleted job's state stays gone."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import handlers, runtime
from datafoundry.controller.config import OperatorConfig

UID = "11111111-2222-3333-4444-555555555555"


def job_body(generation: int = 1) -> kopf.Body:
    # An empty spec is refused, so the cleanup has no staging objects to remove.
    return kopf.Body({"metadata": {"name": "demo", "namespace": "team-a", "uid": UID, "generation": generation},
                      "spec": {}})


def operator_memo() -> tuple[kopf.Memo, runtime.Runtime]:
    rt = runtime.Runtime.new(OperatorConfig())
    return kopf.Memo({runtime.MEMO_KEY: rt}), rt


def test_importing_the_handlers_builds_no_state() -> None:
    with pytest.raises(RuntimeError, match="startup handler"):
        runtime.of(kopf.Memo())
    assert not [name for name, value in vars(handlers).items() if not name.startswith("__")
                and isinstance(value, (runtime.Runtime, OperatorConfig, dict, set, list))]


def test_a_new_spec_wakes_the_daemon_and_its_own_status_writes_do_not() -> None:
    async def scenario() -> None:
        memo, rt = operator_memo()
        state = rt.jobs.open(UID)
        state.spec = (1, DataFoundryJobSpec.model_construct())
        await handlers.on_job_event(uid=UID, meta=job_body(1).meta, memo=memo)
        assert not state.wake.is_set()
        await handlers.on_job_event(uid=UID, meta=job_body(2).meta, memo=memo)
        assert state.wake.is_set()

    asyncio.run(scenario())


def test_a_late_child_event_after_cleanup_recreates_no_state_for_the_job() -> None:
    """Regression: the wake-ups were a defaultdict, so any event for a deleted job's uid (its own last
    watch event, its children's deletions) brought its entry back, for good."""

    async def scenario() -> None:
        memo, rt = operator_memo()
        rt.jobs.open(UID)
        body = job_body()
        await handlers.cleanup(body=body, name="demo", namespace="team-a", uid=UID, memo=memo, retry=0)
        assert UID not in rt.jobs
        await handlers.on_job_event(uid=UID, meta=body.meta, memo=memo)
        rt.jobs.wake_all({UID})  # the children's informer, on a child's deletion
        rt.jobs.wake(UID)
        assert UID not in rt.jobs and len(rt.jobs) == 0 and rt.jobs.get(UID) is None

    asyncio.run(scenario())

"""Live progress off the reconcile path: which shards are read, and the background refresh's rules
(at most one read in flight per job, at most one per interval, a wake only when something changed).
Also that the slim Job kept in the operator's index reads exactly like the whole Job."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest

from datafoundry.api import keys
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller import live
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.live import LiveProgress, running_shards
from datafoundry.controller.observe import child_job, job_essentials, observe
from datafoundry.controller.owner import Owner
from datafoundry.pipeline.contract import Progress, ShardKey

UID = "11111111-2222-3333-4444-555555555555"
SPEC = DataFoundryJobSpec.model_validate({
    "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 100},
    "generator": {"model": "org/tiny", "shards": 4},
    "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
})


def job(stage: str, round_: int = 0, *, shard: int | None = None, completions: int = 1, completed: str = "",
        complete: bool = False, active: int = 0, ready: int | None = None, deleting: bool = False
        ) -> dict[str, Any]:
    labels = {keys.LABEL_JOB_UID: UID, keys.LABEL_STAGE: stage, keys.LABEL_ROUND: str(round_)}
    if shard is not None:
        labels[keys.LABEL_SHARD] = str(shard)
    meta: dict[str, Any] = {"name": f"j-{stage}-{shard}", "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"completions": completions, **({"completionMode": "Indexed"} if stage == "generate" else {})},
        "status": {"completedIndexes": completed, "active": active, "ready": active if ready is None else ready,
                   "conditions": [{"type": "Complete", "status": "True"}] if complete else []},
    }


def test_running_shards_are_the_unfinished_ones_with_pods() -> None:
    observed = observe([
        job("generate", completions=4, completed="0,2", active=2),
        job("filter", shard=0, active=1),
        job("filter", shard=2, complete=True),
        job("filter", shard=3),  # created, no pod yet
        job("filter", 1, shard=3, active=1, ready=0),  # its pod waits for a node: it writes nothing yet
        job("filter", shard=1, active=1, deleting=True),
        job("dedup", active=1),  # dedup and publish write no live progress the status shows
    ], [])
    assert running_shards(observed) == [("generate", 0, 1), ("generate", 0, 3), ("filter", 0, 0)]


def test_reads_stay_within_the_budget_over_all_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = FakeReads()
    monkeypatch.setattr(live, "read_shards", reads)
    clock = Clock()

    async def scenario() -> None:
        lp = LiveProgress(interval=10.0, reads_per_second=4.0, clock=clock)
        four = [("generate", 0, k) for k in range(4)]
        for i in range(5):  # five jobs of four running shards each, all due at once
            lp.refresh(f"job-{i}", SPEC, four, on_change=lambda: None)
        await lp.drain()
        assert len(reads.calls) == 1  # a second's budget spent by the first job
        clock.now += 1.0
        for i in range(5):
            lp.refresh(f"job-{i}", SPEC, four, on_change=lambda: None)
        await lp.drain()
        assert len(reads.calls) == 2
        clock.now += 0.5
        lp.refresh("job-2", SPEC, four, on_change=lambda: None)
        await lp.drain()
        assert len(reads.calls) == 3  # two tokens left: it overdraws, and then the rest wait
        clock.now += 0.5
        lp.refresh("job-3", SPEC, four, on_change=lambda: None)
        await lp.drain()
        assert len(reads.calls) == 3

    asyncio.run(scenario())


def test_nothing_is_read_once_the_generator_is_done() -> None:
    observed = observe([job("generate", completions=2, completed="0-1", complete=True)], [])
    assert running_shards(observed) == []


class FakeReads:
    def __init__(self) -> None:
        self.calls: list[list[ShardKey]] = []
        self.generated = 5

    def __call__(self, spec: DataFoundryJobSpec, uid: str, shards: Collection[ShardKey]) -> dict[ShardKey, Progress]:
        self.calls.append(list(shards))
        return {k: Progress(stage=k[0], round=k[1], shard=k[2], generated=self.generated,  # type: ignore[arg-type]
                            updated_at="2026-01-01T00:00:00Z") for k in shards}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refresh_reads_in_the_background_and_wakes_only_on_change(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = FakeReads()
    monkeypatch.setattr(live, "read_shards", reads)
    woken: list[str] = []
    clock = Clock()

    async def scenario() -> None:
        lp = LiveProgress(interval=10.0, reads_per_second=100.0, clock=clock)
        shards = [("generate", 0, 0), ("generate", 0, 1)]
        lp.refresh(UID, SPEC, shards, on_change=lambda: woken.append("a"))
        assert lp.latest(UID) == {}  # the pass does not wait for S3
        lp.refresh(UID, SPEC, shards, on_change=lambda: woken.append("b"))  # one in flight: no second read
        await lp.drain()
        assert len(reads.calls) == 1
        assert lp.latest(UID)[("generate", 0, 1)].generated == 5
        assert woken == ["a"]

        clock.now += 9
        lp.refresh(UID, SPEC, shards, on_change=lambda: woken.append("c"))  # within the interval: no read
        await lp.drain()
        assert len(reads.calls) == 1

        clock.now += 1
        lp.refresh(UID, SPEC, shards, on_change=lambda: woken.append("d"))  # due, but nothing changed
        await lp.drain()
        assert len(reads.calls) == 2 and woken == ["a"]

        clock.now += 10
        reads.generated = 9
        lp.refresh(UID, SPEC, [("generate", 0, 1)], on_change=lambda: woken.append("e"))
        await lp.drain()
        assert woken == ["a", "e"]
        # A shard not read this time keeps its last reading (the status must not flap).
        assert lp.latest(UID)[("generate", 0, 0)].generated == 5
        assert lp.latest(UID)[("generate", 0, 1)].generated == 9

        clock.now += 10
        lp.refresh(UID, SPEC, [], on_change=lambda: woken.append("f"))  # nothing running: nothing read
        await lp.drain()
        lp.forget(UID)
        assert lp.latest(UID) == {}

    asyncio.run(scenario())
    assert len(reads.calls) == 3 and woken == ["a", "e"]


def test_a_failed_read_keeps_the_last_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(spec: DataFoundryJobSpec, uid: str, shards: Collection[ShardKey]) -> dict[ShardKey, Progress]:
        raise ConnectionError("store down")

    async def scenario() -> None:
        lp = LiveProgress(interval=0.0, reads_per_second=100.0)
        monkeypatch.setattr(live, "read_shards", FakeReads())
        lp.refresh(UID, SPEC, [("filter", 0, 2)], on_change=lambda: None)
        await lp.drain()
        monkeypatch.setattr(live, "read_shards", broken)
        lp.refresh(UID, SPEC, [("filter", 0, 2)], on_change=lambda: None)
        await lp.drain()
        assert lp.latest(UID)[("filter", 0, 2)].generated == 5

    asyncio.run(scenario())


def server_job(manifest: dict[str, Any]) -> dict[str, Any]:
    """A child Job as the API server returns it: defaults, managed fields and a status added."""
    obj = {**manifest, "metadata": {**manifest["metadata"], "uid": "u", "resourceVersion": "42",
                                    "creationTimestamp": "2026-01-01T00:00:00Z",
                                    "managedFields": [{"manager": "datafoundry", "fieldsV1": {"f:spec": {}}}]}}
    obj["spec"] = {**manifest["spec"], "backoffLimit": 6, "selector": {"matchLabels": {"x": "y"}}}
    obj["status"] = {"active": 1, "completedIndexes": "0,2-3", "succeeded": 3, "startTime": "2026-01-01T00:00:01Z",
                     "conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-01-01T00:01:00Z"}
    return obj


@pytest.mark.parametrize("kind", ["generate", "filter"])
def test_the_indexed_essentials_of_a_job_read_like_the_whole_job(kind: str) -> None:
    config = OperatorConfig()
    manifest = (ch.generate_job(Owner("ns", "demo", UID), SPEC, config, 1, 150) if kind == "generate"
                else ch.filter_job(Owner("ns", "demo", UID), SPEC, config, 1, 3))
    whole = server_job(manifest)
    slim = job_essentials(whole)
    assert child_job(slim) == child_job(whole)
    assert "managedFields" not in slim["metadata"] and "template" not in slim["spec"]
    deleting = {**whole, "metadata": {**whole["metadata"], "deletionTimestamp": "2026-01-01T00:02:00Z"}}
    assert child_job(job_essentials(deleting)).deleting

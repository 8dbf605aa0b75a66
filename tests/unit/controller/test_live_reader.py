"""The background reader of live progress: at most one read in flight per job, at most one per
interval, within a budget of reads over all jobs, a wake only when something changed, the last
reading kept when a read fails."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import live_reader
from datafoundry.controller.live_reader import LiveProgress
from datafoundry.pipeline.contract import Progress, ShardKey

UID = "11111111-2222-3333-4444-555555555555"
SPEC = DataFoundryJobSpec.model_validate({
    "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 100},
    "generator": {"model": "org/tiny", "shards": 4},
    "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
})


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
    monkeypatch.setattr(live_reader, "read_shards", reads)
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
        monkeypatch.setattr(live_reader, "read_shards", FakeReads())
        lp.refresh(UID, SPEC, [("filter", 0, 2)], on_change=lambda: None)
        await lp.drain()
        monkeypatch.setattr(live_reader, "read_shards", broken)
        lp.refresh(UID, SPEC, [("filter", 0, 2)], on_change=lambda: None)
        await lp.drain()
        assert lp.latest(UID)[("filter", 0, 2)].generated == 5

    asyncio.run(scenario())


def test_reads_stay_within_the_budget_over_all_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = FakeReads()
    monkeypatch.setattr(live_reader, "read_shards", reads)
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

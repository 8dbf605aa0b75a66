"""The records a strategy with a memory is given: earlier rounds (all shards), then this shard's earlier
chunks, oldest first, newest `limit` only; read from parts in a `file://` store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.testing.workers import WorkerJob
from datafoundry.workers.common import WorkerContext
from datafoundry.workers.history import history_keys, load_accepted

SPEC = {"task": {"type": "instruction", "domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 8}, "generator": {"model": "m", "shards": 2}, "seed": 1}


def _rec(name: str, strategy: str = "selfInstruct") -> dict[str, Any]:
    return {"id": name, "instruction": f"instruction {name}", "response": "r", "meta": {"strategy": strategy}}


def _ctx(job: WorkerJob, round_: int, shard: int) -> WorkerContext:
    return WorkerContext(stage=Stage.GENERATE, plan=job.plan, spec=DataFoundryJobSpec.model_validate(job.spec),
                         round=round_, shard=shard, store=job.store)


@pytest.fixture
def job(tmp_path: Path) -> WorkerJob:
    job = WorkerJob.on_files(tmp_path).setup(dict(SPEC))
    job.stage_gen(0, 0, [[_rec("0.0.0a"), _rec("0.0.0b", "persona")], [_rec("0.0.1a")]])
    job.stage_gen(0, 1, [[_rec("0.1.0a")]])
    job.stage_gen(1, 0, [[_rec("1.0.0a")], [_rec("1.0.1a"), _rec("1.0.1b")], [_rec("1.0.2a")]])
    job.stage_gen(1, 1, [[_rec("1.1.0a")]])  # the same round's other shard: never seen in round 1
    job.store.put(layout.checkpoint_key(job.uid, Stage.GENERATE, 0, 0), b"{}")  # not a part
    return job


def test_history_is_earlier_rounds_then_this_shards_earlier_chunks(job: WorkerJob) -> None:
    ids = [r["id"] for r in load_accepted(_ctx(job, 1, 0), 2, "selfInstruct", 100)]
    assert ids == ["0.0.0a", "0.0.1a", "0.1.0a", "1.0.0a", "1.0.1a", "1.0.1b"]
    assert [r["id"] for r in load_accepted(_ctx(job, 1, 1), 1, "selfInstruct", 100)] == \
        ["0.0.0a", "0.0.1a", "0.1.0a", "1.1.0a"]
    assert [r["id"] for r in load_accepted(_ctx(job, 0, 1), 0, "selfInstruct", 100)] == []
    assert [r["id"] for r in load_accepted(_ctx(job, 2, 0), 0, "persona", 100)] == ["0.0.0b"]
    assert [r["id"] for r in load_accepted(_ctx(job, 2, 0), 0, "selfInstruct", None)] == \
        ["0.0.0a", "0.0.1a", "0.1.0a", "1.0.0a", "1.0.1a", "1.0.1b", "1.0.2a", "1.1.0a"]


def test_only_the_newest_records_are_read(job: WorkerJob) -> None:
    ctx = _ctx(job, 1, 0)
    assert [r["id"] for r in load_accepted(ctx, 3, "selfInstruct", 3)] == ["1.0.1a", "1.0.1b", "1.0.2a"]
    assert load_accepted(ctx, 3, "selfInstruct", 0) == []
    # Newest first, stopping when the limit is met: an unreadable older part is never opened.
    job.store.put(layout.part_key(job.uid, Stage.GENERATE, 0, 0, 0), b"not json\n")
    assert [r["id"] for r in load_accepted(ctx, 3, "selfInstruct", 4)] == ["1.0.0a", "1.0.1a", "1.0.1b", "1.0.2a"]


def test_a_missing_part_is_an_error(job: WorkerJob) -> None:
    ctx = _ctx(job, 1, 0)
    assert history_keys(ctx, 4)[-1] == layout.part_key(job.uid, Stage.GENERATE, 1, 0, 3)
    with pytest.raises(RuntimeError, match=r"part-00003\.jsonl is missing"):
        load_accepted(ctx, 4, "selfInstruct", 100)

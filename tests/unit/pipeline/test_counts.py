"""The one record count and round policy the operator (`controller.reconcile`) and local mode
(`local.runner`) share."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.pipeline.contract import Progress
from datafoundry.pipeline.counts import RecordCounts
from datafoundry.pipeline.plan import another_round, first_round_records, round_records, top_up_records


def _spec() -> DataFoundryJobSpec:
    body: dict[str, Any] = {
        "task": {"domain": "testing", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 100, "overgenerate": 1.5},
        "budget": {"maxRounds": 3},
        "generator": {"model": "org/tiny", "shards": 2},
        "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
    }
    return DataFoundryJobSpec.model_validate(body)


def test_generator_and_filter_shards_sum_into_one_funnel() -> None:
    counts = RecordCounts()
    gen = Progress(stage=Stage.GENERATE, round=0, shard=0, generated=10, rejected={"generator/truncated": 1},
                   prompt_tokens=5, completion_tokens=50, parse_failures=1)
    filt = Progress(stage=Stage.FILTER, round=0, shard=0, generated=10, accepted=7, rejected={"length": 3})
    counts.add_shard(gen, curation=False)
    counts.add_shard(filt, curation=False)
    assert (counts.generated, counts.accepted, counts.prompt_tokens, counts.parse_failures) == (10, 7, 5, 1)
    assert counts.rejected == {"generator/truncated": 1, "length": 3}


def test_in_curation_the_filter_shards_count_what_they_read() -> None:
    counts = RecordCounts()
    counts.add_shard(Progress(stage=Stage.FILTER, round=0, shard=0, generated=10, accepted=6), curation=True)
    assert (counts.generated, counts.accepted) == (10, 6)


def test_a_copy_does_not_share_the_rejections() -> None:
    counts = RecordCounts(rejected={"length": 1})
    copy = counts.copy()
    copy.rejected["length"] += 1
    assert counts.rejected == {"length": 1}


def test_round_policy() -> None:
    spec = _spec()
    assert round_records(spec, 0, 0, 0) == first_round_records(100, 1.5)
    assert round_records(spec, 1, 60, 150) == top_up_records(100, 60, 150, 1.5)
    assert another_round(spec, 0, 60) and another_round(spec, 1, 99)
    assert not another_round(spec, 0, 100)  # the target is met
    assert not another_round(spec, 2, 10)  # maxRounds spent

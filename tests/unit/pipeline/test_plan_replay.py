"""Replay arithmetic: how many replay records join the dataset, and how self-generated replay
(mix.replay.generate) sizes the generator's rounds."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec, Replay
from datafoundry.pipeline.plan import (
    another_round,
    first_round_records,
    replay_share,
    replay_target,
    replay_wanted,
    round_records,
    top_up_records,
)


@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.1, 0.25, 0.333, 0.5, 0.9, 0.99])
def test_replay_ratio_holds_within_one_record(ratio: float) -> None:
    for generated in [0, 1, 2, 3, 7, 10, 99, 100, 1001, 123_457]:
        replay = replay_wanted(Replay(uri="s3://bucket/replay/", ratio=ratio), generated)
        total = generated + replay
        assert abs(replay - ratio * total) <= 1, (generated, ratio, replay)


def test_a_number_of_replay_records_is_that_number_whatever_is_published() -> None:
    assert [replay_wanted(Replay(generate={}, records=40), n) for n in (0, 10, 1000)] == [40, 40, 40]


def _spec(replay: dict[str, Any] | None, records: int = 100) -> DataFoundryJobSpec:
    body: dict[str, Any] = {
        "task": {"domain": "testing", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": records, "overgenerate": 1.5},
        "budget": {"maxRounds": 3},
        "generator": {"model": "org/tiny"},
        "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
        **({"mix": {"replay": replay}} if replay is not None else {}),
    }
    return DataFoundryJobSpec.model_validate(body)


def test_only_self_generated_replay_is_generated() -> None:
    assert replay_target(_spec(None)) == 0 and replay_share(_spec(None)) == 0
    assert replay_target(_spec({"uri": "s3://bucket/replay/", "ratio": 0.2})) == 0  # read from uri, not generated
    assert replay_target(_spec({"generate": {}, "ratio": 0.2})) == 25  # 25 / (100 + 25) = 0.2
    assert replay_share(_spec({"generate": {}, "ratio": 0.2})) == Fraction(1, 5)
    assert replay_target(_spec({"generate": {}, "records": 10})) == 10
    assert replay_share(_spec({"generate": {}, "records": 10})) == Fraction(1, 11)
    # Rounded to a hundredth, never to nothing: one replay record beside a million still gets a share.
    assert replay_share(_spec({"generate": {}, "records": 1}, records=1_000_000)) == Fraction(1, 100)
    assert replay_share(_spec({"generate": {}, "ratio": 0.0})) == 0


def test_rounds_generate_for_the_target_and_the_replay_together() -> None:
    spec = _spec({"generate": {}, "ratio": 0.2})
    assert round_records(spec, 0, 0, 0) == first_round_records(125, 1.5)
    # Round 1, after 150 generated (120 domain, 30 replay). The replay is met, the domain is short: the
    # round is what the domain needs over its share of the schedule.
    domain_need = top_up_records(100, 80, 120, 1.5)
    assert round_records(spec, 1, 80, 150, 25) == -(-domain_need * 5 // 4)
    # Both short: the larger of the two needs.
    assert round_records(spec, 1, 80, 150, 20) == max(-(-domain_need * 5 // 4), top_up_records(25, 20, 30, 1.5) * 5)
    # The domain is met but replay is short: the round is sized by the replay's share.
    replay_need = top_up_records(25, 5, 30, 1.5)
    assert round_records(spec, 1, 100, 150, 5) == replay_need * 5
    assert another_round(spec, 0, 100, 5) and another_round(spec, 0, 90, 25)
    assert not another_round(spec, 0, 100, 25)
    assert not another_round(spec, 2, 10, 0)  # maxRounds spent
    # Without self-generated replay nothing changes.
    plain = _spec(None)
    assert round_records(plain, 1, 60, 150) == top_up_records(100, 60, 150, 1.5)
    assert not another_round(plain, 0, 100)

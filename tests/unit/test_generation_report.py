"""Drops at generation, per strategy, reach the funnel, the manifest's rates and the card."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.pipeline.contract import GENERATOR_PREFIX, Progress, add_strategy_counts, termination_message
from datafoundry.pipeline.counts import RecordCounts
from datafoundry.publish import card

SPEC = DataFoundryJobSpec.model_validate({
    "task": {"type": "instruction", "domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 10}, "generator": {"model": "m"}, "output": {"uri": "file:///out"}})

SHARD0 = {"selfInstruct": {"prompts": 10, "records": 6, "truncated": 2, "copies_seed": 1, "invalid_json": 1}}
SHARD1 = {"selfInstruct": {"prompts": 10, "records": 6, "unfinished": 2, "similar_to_pool": 2},
          "evolInstruct": {"prompts": 4, "records": 1, "empty": 3}}


def test_strategy_counts_add_up_over_shards() -> None:
    total = add_strategy_counts(SHARD0, SHARD1)
    assert total["selfInstruct"] == {"prompts": 20, "records": 12, "truncated": 2, "copies_seed": 1,
                                     "invalid_json": 1, "unfinished": 2, "similar_to_pool": 2}
    assert total["evolInstruct"] == SHARD1["evolInstruct"]
    assert SHARD0["selfInstruct"]["prompts"] == 10, "the inputs are not changed"


def test_rates_are_per_prompt_and_name_truncation_apart_from_parse_failures() -> None:
    rates = card.generation_rates(add_strategy_counts(SHARD0, SHARD1))
    assert rates["selfInstruct"]["truncationRate"] == 0.1  # 2 of 20
    assert rates["selfInstruct"]["parseFailureRate"] == 0.05  # invalid_json 1 of 20
    assert rates["evolInstruct"]["parseFailureRate"] == 0.75  # empty 3 of 4
    assert rates["evolInstruct"]["truncationRate"] == 0.0


def test_the_card_shows_prompts_generator_drops_and_the_strategy_table() -> None:
    def render(strategies: dict[str, Any] | None, rejected: dict[str, int]) -> str:
        return card.render(job_name="j", spec=SPEC, plan_spec={"filters": []}, recipe_hash="h", uid="u",
                           generation=1, funnel={"generated": 15, "accepted": 12, "rejected": rejected},
                           shards=[], generated=12, replay=0, fmt="jsonl", ext="jsonl", strategies=strategies)

    rejected = {f"{GENERATOR_PREFIX}truncated": 2, f"{GENERATOR_PREFIX}unfinished": 2, "quality": 3}
    text = render(card.generation_rates(add_strategy_counts(SHARD0, SHARD1)), rejected)
    assert "| prompts | 24 |" in text
    assert "| dropped at generation: `truncated` | 2 |" in text
    assert "| rejected by `quality` | 3 |" in text
    assert "rejected by `generator/" not in text
    assert text.index("| prompts |") < text.index("| generated |") < text.index("| rejected by `quality`")
    assert "## Generation" in text
    # screened out: copies_seed + unfinished + the pool's similar_to_pool
    assert "| selfInstruct | 20 | 12 | 2 (10%) | 1 (5%) | 5 (25%) |" in text
    assert "## Generation" not in render(None, {"quality": 3})


def test_generator_drops_count_in_the_status_while_the_round_runs() -> None:
    gen = Progress(stage="generate", round=0, shard=0, generated=6, rejected={f"{GENERATOR_PREFIX}truncated": 2},
                   strategies=SHARD0)
    received = Progress.model_validate_json(termination_message(gen))
    assert received.strategies == SHARD0
    counts = RecordCounts()
    counts.add(received, accepted=False)
    assert counts.rejected == {f"{GENERATOR_PREFIX}truncated": 2} and counts.accepted == 0

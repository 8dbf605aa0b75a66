"""Self-Instruct's prompts mix seeds with pooled instructions; its admit hook is the pool's filters."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.strategies.base import Inputs, Seed
from datafoundry.strategies.registry import StrategyMix
from datafoundry.strategies.self_instruct import SelfInstruct

SEEDS = (
    Seed("s0", {"instruction": "How do I restart a deployment without downtime?", "response": "kubectl rollout"}),
    Seed("s1", {"instruction": "What is the difference between a Deployment and a StatefulSet?", "response": "x"}),
    Seed("s2", {"instruction": "Explain how a liveness probe differs from a readiness probe.", "response": "y"}),
    Seed("s3", {"instruction": "Which command shows why a pod is pending?", "response": "kubectl describe"}),
)
EARLIER = [
    {"id": "r0", "instruction": "How can I limit the memory a container may use in a pod?", "response": "a"},
    {"id": "r1", "instruction": "Why is my persistent volume claim stuck in pending?", "response": "b"},
    {"id": "r2", "instruction": "How do I give a service account permission to list secrets?", "response": "c"},
]


def _mix(task_type: str = "instruction", **options: Any) -> StrategyMix:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"type": task_type, "domain": "Kubernetes operations",
                 "seeds": {"inline": [dict(s.data) for s in SEEDS]}},
        "target": {"records": 10},
        "generator": {"model": "m", "strategies": [{"name": "selfInstruct", "options": options}]},
        "output": {"uri": "file:///out"},
        "seed": 3,
    })
    return StrategyMix(spec, Inputs(seeds=SEEDS))


def _self_instruct(mix: StrategyMix) -> SelfInstruct:
    strategy = mix.strategy("selfInstruct")
    assert isinstance(strategy, SelfInstruct)
    return strategy


def test_an_empty_pool_gives_seed_examples_only() -> None:
    prompt = _mix().prompt(0, 0)
    listed = prompt.messages[-1]["content"]
    assert prompt.source["seeds"] and "pool" not in prompt.source
    assert len(prompt.source["seeds"]) == 3
    assert sum(s.data["instruction"] in listed for s in SEEDS) == 3


def test_prompts_list_seeds_and_pooled_instructions_together() -> None:
    mix = _mix()
    strategy = _self_instruct(mix)
    strategy.remember(EARLIER)
    assert strategy.memory() == 1000
    for position in range(6):
        prompt = mix.prompt(0, position)
        listed = prompt.messages[-1]["content"]  # the numbered list the model continues
        assert len(prompt.source["seeds"]) == 3 and len(prompt.source["pool"]) == 2
        pooled = [r["instruction"] for r in EARLIER if r["id"] in prompt.source["pool"]]
        seeds = [s.data["instruction"] for s in SEEDS if s.id in prompt.source["seeds"]]
        assert all(text in listed for text in pooled + seeds)
        assert listed.endswith("6.")  # five listed, the model writes the sixth
    again = _mix()
    _self_instruct(again).remember(EARLIER)
    assert [again.prompt(0, p) for p in range(6)] == [mix.prompt(0, p) for p in range(6)]


def test_structured_shapes_show_pooled_requests_after_the_examples() -> None:
    mix = _mix("dialogue", examples=2, pooledExamples=1)
    _self_instruct(mix).remember(EARLIER)
    prompt = mix.prompt(0, 0)
    text = prompt.messages[-1]["content"]
    assert len(prompt.source["seeds"]) == 2 and len(prompt.source["pool"]) == 1
    assert "Requests already written" in text
    assert next(r["instruction"] for r in EARLIER if r["id"] == prompt.source["pool"][0]) in text


def test_admit_pools_what_it_keeps_and_names_what_it_drops() -> None:
    strategy = _self_instruct(_mix())
    new = {"id": "n0", "instruction": "Which CPU limit should the containers of a batch job get?", "response": "z"}
    assert strategy.admit(new) is None
    assert strategy.admit({**new, "id": "n1"}) == "similar_to_pool"  # now pooled
    assert strategy.admit({"id": "n2", "instruction": "Draw the cluster's network.", "response": "z"}) \
        == "excluded_keyword"
    assert strategy.admit({"id": "n3", "instruction": SEEDS[0].data["instruction"]}) == "similar_to_pool"
    assert strategy.admit({"id": "n4", "response": "no prompt field: nothing to judge"}) is None
    assert [p.id for p in strategy.pool.generated] == ["n0"]
    prompt = _mix(pooledExamples=5).prompt(0, 0)
    assert "pool" not in prompt.source  # another mix: its own pool, still empty


def test_remember_feeds_the_pool_oldest_first_up_to_its_size() -> None:
    strategy = _self_instruct(_mix(poolSize=2))
    strategy.remember(EARLIER)
    assert strategy.memory() == 2
    assert [p.id for p in strategy.pool.generated] == ["r1", "r2"]


@pytest.mark.parametrize(("options", "field"), [
    ({"maxSimilarity": 0}, "maxSimilarity"),
    ({"maxSimilarity": "high"}, "maxSimilarity"),
    ({"poolSize": -1}, "poolSize"),
    ({"minWords": 5, "maxWords": 2}, "maxWords"),
    ({"examples": 0}, "examples"),
    ({"pooledExamples": 1.5}, "pooledExamples"),
    ({"excludedKeywords": "image"}, "excludedKeywords"),
])
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as raised:  # the spec's validation, or the pool's own check
        _mix(**options)
    assert "options" in str(raised.value) and field in str(raised.value)

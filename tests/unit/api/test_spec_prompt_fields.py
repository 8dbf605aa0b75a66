"""Task fields that steer generation reach the prompts (found untested by the field audit):
task.instructions, a label's description, a topic's description and a topic's weight."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.strategies.base import Inputs, Seed
from datafoundry.strategies.registry import StrategyMix

INPUTS = Inputs(seeds=(Seed("s0", {"instruction": "a", "response": "b"}),), chunks=())


def mix(task: dict[str, Any], strategy: str) -> StrategyMix:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}, **task},
        "target": {"records": 10},
        "generator": {"model": "org/tiny", "strategies": [{"name": strategy}]},
        "output": {"uri": "file:///out"},
    })
    return StrategyMix(spec, INPUTS)


def text_of(m: StrategyMix, position: int) -> str:
    prompt = m.prompt(0, position)
    return "\n".join(str(message["content"]) for message in prompt.messages)


def test_task_instructions_are_the_guidance_of_every_prompt() -> None:
    m = mix({"instructions": "Prefer kubectl one-liners."}, "selfInstruct")
    for position in range(5):
        assert "Guidance: Prefer kubectl one-liners." in text_of(m, position)
    assert "Guidance:" not in text_of(mix({}, "selfInstruct"), 0)


def test_a_label_description_is_shown_to_the_generator() -> None:
    labels = [{"name": "bug", "description": "reports a defect"}, {"name": "question"}]
    m = mix({"type": "classification", "labels": labels}, "selfInstruct")
    text = text_of(m, 0) + m.prompt(0, 0).shape.describe()
    assert "bug (reports a defect)" in text and "question" in text


@pytest.mark.parametrize("task_type", ["instruction", "dialogue"])  # ask-then-answer, and one call
def test_a_topic_description_is_in_its_prompts_and_weights_share_the_records(task_type: str) -> None:
    taxonomy = [{"name": "networking", "description": "CNI, Services and DNS", "weight": 3},
                {"name": "storage", "weight": 1}]
    m = mix({"type": task_type, "taxonomy": taxonomy}, "taxonomy")
    topics = Counter(m.prompt(0, p).source["topic"] for p in range(400))
    assert topics == {"networking": 300, "storage": 100}
    networking = next(p for p in range(10) if m.prompt(0, p).source["topic"] == "networking")
    assert "The topic covers: CNI, Services and DNS" in text_of(m, networking)
    storage = next(p for p in range(10) if m.prompt(0, p).source["topic"] == "storage")
    assert "The topic covers" not in text_of(m, storage)

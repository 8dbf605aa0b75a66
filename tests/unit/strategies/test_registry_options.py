"""generator.strategies[].options reach the strategies as the CRD documents them: typed values under
their camelCase names, and each default the CRD states is the one the strategy uses."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, StrategyOptions
from datafoundry.strategies.base import DocChunk, Inputs, Prompt, Seed
from datafoundry.strategies.persona import DEFAULT_PERSONAS
from datafoundry.strategies.registry import (
    CHARS_PER_TOKEN,
    DEFAULT_TURNS,
    JSON_OVERHEAD_TOKENS,
    MIN_CHARS,
    StrategyMix,
)
from datafoundry.strategies.self_instruct import DEFAULT_EXAMPLES

SEEDS = tuple(Seed(f"s{i}", {"instruction": f"How do I restart service {i}?", "response": "With systemctl."})
              for i in range(6))
INPUTS = Inputs(seeds=SEEDS, chunks=(DocChunk("d#0", "passage zero"),))


def described(field: str) -> str:
    description = StrategyOptions.model_fields[field].description
    assert description is not None
    return description


def test_each_stated_default_is_the_strategy_s_constant() -> None:
    assert described("examples").endswith(f"default {DEFAULT_EXAMPLES}.")
    assert described("turns").endswith(f"default {DEFAULT_TURNS}.")
    assert f"default {len(DEFAULT_PERSONAS)} built-in personas" in described("personas")
    assert (f"default (sampling.maxTokens - {JSON_OVERHEAD_TOKENS}) * {CHARS_PER_TOKEN} / the number of text "
            f"fields, at least {MIN_CHARS}.") in described("max_chars")
    assert StrategyOptions.model_json_schema()["properties"]["maxChars"]["anyOf"][0]["minimum"] == MIN_CHARS


def mix(task_type: str, *strategies: dict[str, Any], max_tokens: int = 512) -> StrategyMix:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"type": task_type, "domain": "ops", "seeds": {"inline": [dict(s.data) for s in SEEDS]}},
        "target": {"records": 10},
        "generator": {"model": "m", "strategies": list(strategies), "sampling": {"maxTokens": max_tokens}},
        "output": {"uri": "file:///out"},
    })
    return StrategyMix(spec, INPUTS)


def prompts(m: StrategyMix, n: int = 12) -> list[Prompt]:
    return [m.prompt(0, p) for p in range(n)]


def test_persona_takes_the_personas_given() -> None:
    given = ["a nurse on a night shift", "a farmer checking the weather"]
    chosen = mix("instruction", {"name": "persona", "options": {"personas": given}})
    used = {p.source["persona"] for p in prompts(chosen)}
    assert used == set(given)
    default = {p.source["persona"] for p in prompts(mix("instruction", {"name": "persona"}), 40)}
    assert default <= set(DEFAULT_PERSONAS) and len(default) > 2


def test_self_instruct_shows_the_number_of_examples_given() -> None:
    two = mix("instruction", {"name": "selfInstruct", "options": {"examples": 2}})
    assert {len(p.source["seeds"]) for p in prompts(two)} == {2}
    default = mix("instruction", {"name": "selfInstruct"})
    assert {len(p.source["seeds"]) for p in prompts(default)} == {DEFAULT_EXAMPLES}


def test_multi_turn_turns_and_max_chars_bound_the_record() -> None:
    dialogue = mix("dialogue", {"name": "multiTurn", "options": {"turns": 2, "maxChars": 80}})
    schema = prompts(dialogue, 1)[0].schema["properties"]["turns"]
    assert schema["maxItems"] == 2
    assert schema["items"]["properties"]["user"]["maxLength"] == 80
    default = prompts(mix("dialogue", {"name": "multiTurn"}, max_tokens=512), 1)[0].schema["properties"]["turns"]
    assert default["maxItems"] == DEFAULT_TURNS
    text_fields = 2 * DEFAULT_TURNS
    expected = (512 - JSON_OVERHEAD_TOKENS) * CHARS_PER_TOKEN // text_fields
    assert default["items"]["properties"]["user"]["maxLength"] == expected

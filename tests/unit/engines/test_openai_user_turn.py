"""A user turn left open on an OpenAI-compatible server: the pre-query template, sent as a raw completion."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines import pre_query_template
from datafoundry.engines.base import Request, SamplingConfig
from datafoundry.engines.openai import PRE_QUERY_TEMPLATE_FIELD, MissingPreQueryTemplate, OpenAIEngine

TEMPLATE = "<|im_start|>system\nYou help with Kubernetes.<|im_end|>\n<|im_start|>user\n"
OPEN = Request(messages=({"role": "system", "content": "ignored: the template holds the system turn"},), seed=7,
               max_tokens=64, open_user_turn=True)


def test_the_pre_query_template_is_the_whole_prompt_of_a_raw_completion() -> None:
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", SamplingConfig(temperature=1.0, repetition_penalty=1.1),
                          pre_query_template=TEMPLATE)
    kwargs = engine._open_user_turn_kwargs(OPEN)
    assert kwargs["prompt"] == TEMPLATE and "messages" not in kwargs
    assert kwargs["seed"] == 7 and kwargs["max_tokens"] == 64 and kwargs["temperature"] == 1.0
    assert kwargs["extra_body"] == {"repetition_penalty": 1.1}
    assert not OPEN.continues  # an open user turn is never an assistant reply to continue
    engine.close()


def test_without_a_template_the_error_names_the_option() -> None:
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", SamplingConfig())
    with pytest.raises(MissingPreQueryTemplate, match=r"generator\.strategies\[\]\.options\.preQueryTemplate"):
        engine.generate([OPEN])
    engine.close()
    assert PRE_QUERY_TEMPLATE_FIELD == "generator.strategies[].options.preQueryTemplate"


def _generator(strategies: list[dict[str, Any]]) -> Any:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 1},
        "generator": {"model": "m", "strategies": strategies,
                      "engine": {"type": "openai", "endpoint": "http://vllm:8000/v1"}},
        "output": {"uri": "file:///o"}})
    return spec.generator


def test_make_engine_takes_the_template_from_the_magpie_strategy_only() -> None:
    magpie = {"name": "magpie", "options": {"preQueryTemplate": TEMPLATE}}
    assert pre_query_template(_generator([{"name": "selfInstruct"}, magpie])) == TEMPLATE
    assert pre_query_template(_generator([{**magpie, "weight": 0}, {"name": "selfInstruct"}])) is None

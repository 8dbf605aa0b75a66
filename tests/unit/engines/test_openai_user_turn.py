"""A user turn left open on an OpenAI-compatible server: the pre-query template, sent as a raw completion."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datafoundry.engines.base import Request, SamplingConfig
from datafoundry.engines.openai import PRE_QUERY_TEMPLATE_FIELDS, MissingPreQueryTemplate, OpenAIEngine

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


def test_without_a_template_the_error_names_the_options() -> None:
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", SamplingConfig())
    with pytest.raises(MissingPreQueryTemplate, match=r"generator\.strategies\[\]\.options\.preQueryTemplate and "
                       r"mix\.replay\.generate\.preQueryTemplate"):
        engine.generate([OPEN])
    engine.close()
    assert PRE_QUERY_TEMPLATE_FIELDS == ("generator.strategies[].options.preQueryTemplate",
                                         "mix.replay.generate.preQueryTemplate")


def test_each_request_s_own_template_wins_over_the_engine_s() -> None:
    # A magpie strategy and self-generated replay open the user turn after different system turns.
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", SamplingConfig(), pre_query_template=TEMPLATE)
    general = "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>user\n"
    assert engine._open_user_turn_kwargs(replace(OPEN, pre_query_template=general))["prompt"] == general
    assert engine._open_user_turn_kwargs(OPEN)["prompt"] == TEMPLATE
    engine.close()

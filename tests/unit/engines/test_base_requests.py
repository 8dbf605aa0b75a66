"""What the engines send: sampling from the spec, stop strings, and continuing a prefilled reply."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines import sampling_config
from datafoundry.engines.base import Request, SamplingConfig
from datafoundry.engines.openai import OpenAIEngine


def spec_with(sampling: dict[str, object]) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 1}, "generator": {"model": "m", "sampling": sampling}, "output": {"uri": "file:///o"}})


ASK = Request(messages=({"role": "user", "content": "List questions."}, {"role": "assistant", "content": "1. a\n2."}),
              seed=3, stop=("\n",), max_tokens=64)
PLAIN = Request(messages=({"role": "user", "content": "hi"},), seed=4)


def test_repetition_penalty_reaches_the_openai_request_only_when_set() -> None:
    gen = spec_with({"repetitionPenalty": 1.1}).generator
    assert gen is not None
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", sampling_config(gen))
    kwargs = engine._kwargs(PLAIN)
    assert kwargs["extra_body"] == {"repetition_penalty": 1.1}
    default = spec_with({}).generator
    assert default is not None and default.sampling.repetition_penalty == 1.0
    assert "extra_body" not in OpenAIEngine("http://127.0.0.1:1/v1", "m", sampling_config(default))._kwargs(PLAIN)


def test_a_prefilled_reply_is_continued_and_stops_at_the_line_end() -> None:
    engine = OpenAIEngine("http://127.0.0.1:1/v1", "m", SamplingConfig())
    kwargs = engine._kwargs(ASK)
    assert kwargs["extra_body"] == {"continue_final_message": True, "add_generation_prompt": False}
    assert kwargs["stop"] == ["\n"] and kwargs["max_tokens"] == 64
    assert kwargs["messages"][-1] == {"role": "assistant", "content": "1. a\n2."}
    assert ASK.continues and not PLAIN.continues


@pytest.mark.slow  # imports vLLM
def test_vllm_sampling_params_carry_stop_and_repetition_penalty() -> None:
    from datafoundry.engines.vllm import VLLMEngine

    fake = SimpleNamespace(sampling=SamplingConfig(repetition_penalty=1.1), max_model_len=2048)
    params = VLLMEngine.sampling_params(fake, ASK, 10)  # type: ignore[arg-type]
    assert params.repetition_penalty == 1.1 and params.stop == ["\n"] and params.max_tokens == 64


def test_vllm_renders_a_prefilled_reply_for_the_model_to_continue() -> None:
    from datafoundry.engines.vllm import VLLMEngine

    class Tokenizer:
        chat_template = "x"

        def apply_chat_template(self, messages: list[dict[str, str]], **kw: object) -> str:
            self.kw = kw
            return "|".join(m["content"] for m in messages)

        def encode(self, text: str, add_special_tokens: bool) -> list[int]:
            return [len(text)]

    tok = Tokenizer()
    VLLMEngine.render(SimpleNamespace(tokenizer=tok), ASK.messages)  # type: ignore[arg-type]
    assert tok.kw["continue_final_message"] is True and tok.kw["add_generation_prompt"] is False
    VLLMEngine.render(SimpleNamespace(tokenizer=tok), PLAIN.messages)  # type: ignore[arg-type]
    assert tok.kw["continue_final_message"] is False and tok.kw["add_generation_prompt"] is True

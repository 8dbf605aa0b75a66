"""A user turn left open for the model to write (Magpie), rendered from the model's own chat template."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from datafoundry.engines.base import Message
from datafoundry.engines.vllm import USER_SENTINEL, VLLMEngine, user_turn_prompt

SYSTEM: tuple[Message, ...] = ({"role": "system", "content": "You help with Kubernetes cluster operations."},)


@pytest.mark.slow  # loads SmolLM2's tokenizer (the model is built once and cached)
def test_smollm2_prompt_ends_where_the_user_turn_opens_and_stops_at_its_end_marker(smollm2_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_model)
    text, end = user_turn_prompt(tokenizer, SYSTEM)
    assert text == "<|im_start|>system\nYou help with Kubernetes cluster operations.<|im_end|>\n<|im_start|>user\n"
    assert end == "<|im_end|>"
    ids, stop = VLLMEngine.render(SimpleNamespace(tokenizer=tokenizer), SYSTEM, open_user_turn=True)  # type: ignore[arg-type]
    assert tokenizer.decode(ids) == text and stop == ("<|im_end|>",)
    assert USER_SENTINEL not in tokenizer.decode(ids)
    # without the flag the same messages open the assistant's turn, with no extra stop
    ids, stop = VLLMEngine.render(SimpleNamespace(tokenizer=tokenizer), SYSTEM)  # type: ignore[arg-type]
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n") and stop == ()


def test_a_model_without_a_chat_template_gets_a_user_prefix_and_stops_at_the_assistant() -> None:
    text, end = user_turn_prompt(SimpleNamespace(chat_template=None), SYSTEM)
    assert text == "System: You help with Kubernetes cluster operations.\n\nUser:"
    assert end == "\n\nAssistant:"


def test_a_template_that_drops_the_user_message_is_a_clear_error() -> None:
    class Dropping:
        chat_template = "x"

        def apply_chat_template(self, messages: list[Message], **kw: object) -> str:
            return "".join(m["content"] for m in messages if m["role"] == "system")

    with pytest.raises(ValueError, match="magpie"):
        user_turn_prompt(Dropping(), SYSTEM)

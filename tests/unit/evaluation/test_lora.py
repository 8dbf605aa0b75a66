"""LoRA training and held-out loss on the tiny random Llama (CPU, a few seconds)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from datafoundry.evaluation import lora
from datafoundry.evaluation.examples import Example
from datafoundry.evaluation.lora import IGNORE, Encoded, LoraSettings

QUESTION = "What is two plus two?"
ANSWER = "Two plus two is four."
EXAMPLES = [Example(({"role": "user", "content": f"What is {i} plus {i}?"},), f"It is {2 * i}.") for i in range(6)]
SETTINGS = LoraSettings(steps=4, batch_size=3, learning_rate=1e-2, max_tokens=64, rank=4, alpha=8, seed=7)


@pytest.fixture(scope="module")
def loaded(tiny_model: Path) -> tuple[Any, Any]:
    return lora.load(str(tiny_model))


@pytest.fixture
def model(loaded: tuple[Any, Any]) -> Iterator[Any]:
    """The shared base model; a test that leaves an adapter on it fails here rather than the next test."""
    yield loaded[0]
    assert not hasattr(loaded[0], "peft_config") or not loaded[0].peft_config, "adapter left on the base model"


@pytest.fixture
def tokenizer(loaded: tuple[Any, Any]) -> Any:
    return loaded[1]


def answer_text(tokenizer: Any, item: Encoded) -> str:
    return str(tokenizer.decode([t for t in item.labels if t != IGNORE]))


def test_load(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    assert lora.device() == "cpu"
    assert next(model.parameters()).dtype == torch.float32
    assert not model.training
    assert tokenizer.pad_token_id is not None


def test_encode_masks_the_prompt(tokenizer: Any) -> None:
    [item] = lora.encode(tokenizer, [Example(({"role": "user", "content": QUESTION},), ANSWER)], 256)
    assert len(item.labels) == len(item.input_ids)
    # the tiny model's template: <s><|user|>\n{question}</s>\n<|assistant|>\n{answer}</s>\n
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False,
                                           add_generation_prompt=True)
    start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert item.labels[:start] == [IGNORE] * start
    assert item.labels[start:] == item.input_ids[start:]
    assert answer_text(tokenizer, item) == ANSWER + "</s>\n"
    assert QUESTION in tokenizer.decode(item.input_ids[:start])


def test_encode_plain_text_and_without_a_template(tiny_model: Path, tokenizer: Any) -> None:
    [plain] = lora.encode(tokenizer, [Example((), ANSWER)], 256)
    assert plain.labels[0] == IGNORE  # nothing predicts the first token
    assert plain.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(plain.input_ids, skip_special_tokens=True) == ANSWER
    assert plain.labels[1:] == plain.input_ids[1:]

    bare = AutoTokenizer.from_pretrained(str(tiny_model))
    bare.chat_template = None
    [item] = lora.encode(bare, [Example(({"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": QUESTION}), ANSWER)], 256)
    assert bare.decode(item.input_ids, skip_special_tokens=True) == f"Be brief.\n{QUESTION}\n{ANSWER}"
    assert answer_text(bare, item).strip() == ANSWER + "</s>"


def test_encode_truncates_and_skips_what_has_no_answer_left(tokenizer: Any) -> None:
    ex = Example(({"role": "user", "content": QUESTION},), ANSWER)
    [full] = lora.encode(tokenizer, [ex], 256)
    start = full.labels.count(IGNORE)
    [cut] = lora.encode(tokenizer, [ex], start + 2)
    assert cut.input_ids == full.input_ids[: start + 2]
    assert cut.labels == full.labels[: start + 2]
    assert cut.answer_tokens == 2
    # cut at the prompt's end, the conversation has no answer token left; plain text still has some
    plain = lora.encode(tokenizer, [Example((), ANSWER)], start)
    assert len(plain) == 1
    assert lora.encode(tokenizer, [ex, Example((), ANSWER)], start) == plain


class CharTokenizer:
    """One id a character (its code point), BOS 1 and EOS 2, but "\nA" is one token: a merge that can
    cross the prompt/answer boundary. Its "chat template" renders a user turn as `U:...` and the
    generation prompt as `>`, but a finished conversation without it (so the prompt is no prefix)."""

    eos_token_id = 2

    def __init__(self, chat_template: str | None) -> None:
        self.chat_template = chat_template

    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        ids = [1] if add_special_tokens else []
        i = 0
        while i < len(text):
            if text.startswith("\nA", i):
                ids.append(1000)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return {"input_ids": ids}

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool,
                            add_generation_prompt: bool) -> str:
        text = "".join(f"{m['role'][0].upper()}:{m['content']}" for m in messages)
        return text + ">" if add_generation_prompt else text


def test_encode_when_the_prompt_tokens_are_no_prefix() -> None:
    ex = Example(({"role": "user", "content": "Q"},), "AB")
    # no template: "Q\n" + "AB" merges "\nA"; the answer is tokenized apart after the prompt's tokens
    [item] = lora.encode(CharTokenizer(None), [ex], 64)
    assert item.input_ids == [1, ord("Q"), ord("\n"), ord("A"), ord("B"), 2]
    assert item.labels == [IGNORE, IGNORE, IGNORE, ord("A"), ord("B"), 2]
    # a template that renders "U:Q>" alone but "U:QA:AB" in full: the common prefix is the prompt
    [item] = lora.encode(CharTokenizer("template"), [ex], 64)
    assert item.input_ids == [ord(c) for c in "U:QA:AB"]
    assert item.labels == [IGNORE] * 3 + [ord(c) for c in "A:AB"]


def test_held_out_loss_is_token_weighted(model: Any, tokenizer: Any) -> None:
    short = Example(({"role": "user", "content": "Hi"},), "4")
    long = Example(({"role": "user", "content": "Hi"},),
                   "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.")
    encoded = lora.encode(tokenizer, [short, long], 256)
    assert encoded[0].answer_tokens < encoded[1].answer_tokens

    sums = []
    for item in encoded:  # one at a time: no padding
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([item.input_ids])).logits[0, :-1]
        sums.append(float(F.cross_entropy(logits, torch.tensor(item.labels[1:]), reduction="sum")))
    tokens = [e.answer_tokens for e in encoded]

    token_weighted = sum(sums) / sum(tokens)
    mean_of_means = sum(s / n for s, n in zip(sums, tokens, strict=True)) / len(sums)
    assert abs(token_weighted - mean_of_means) > 0.05  # the two examples tell them apart

    loss = lora.held_out_loss(model, encoded, batch_size=2)  # one padded batch
    assert loss.tokens == sum(tokens)
    assert loss.nll == pytest.approx(token_weighted, rel=1e-5)
    assert loss.perplexity == pytest.approx(math.exp(loss.nll))
    assert lora.held_out_loss(model, encoded, batch_size=1).nll == pytest.approx(loss.nll, rel=1e-5)
    with pytest.raises(ValueError, match="no examples"):
        lora.held_out_loss(model, [], batch_size=2)


def test_train_learns_and_the_adapter_comes_off(model: Any, tokenizer: Any) -> None:
    encoded = lora.encode(tokenizer, EXAMPLES, SETTINGS.max_tokens)
    before = lora.held_out_loss(model, encoded, batch_size=4)
    steps: list[tuple[int, float]] = []
    peft_model, stats = lora.train(model, encoded, SETTINGS, on_step=lambda s, loss: steps.append((s, loss)))
    try:
        after = lora.held_out_loss(peft_model, encoded, batch_size=4)
        trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
        ranks = {p.shape[0] for name, p in peft_model.named_parameters() if ".lora_A." in name}
        scaling = {s for m in peft_model.modules() if isinstance(getattr(m, "scaling", None), dict)
                   for s in m.scaling.values()}
        assert not peft_model.training
    finally:
        base = lora.remove_adapter(peft_model)

    assert after.nll < before.nll - 0.5
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert ranks == {SETTINGS.rank} and scaling == {SETTINGS.alpha / SETTINGS.rank}  # lora.rank, lora.alpha
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert (stats.steps, stats.examples) == (4, 4 * 3)
    # 4 steps of 3 drawn from shuffled epochs of 6: each example exactly twice
    assert stats.tokens == 2 * sum(e.answer_tokens for e in encoded)
    assert (stats.first_loss, stats.last_loss) == (steps[0][1], steps[-1][1])
    assert stats.last_loss < stats.first_loss
    assert stats.seconds > 0

    assert base is model
    assert not hasattr(base, "peft_config") or not base.peft_config
    assert not any("lora_" in name for name, _ in base.named_parameters())
    assert lora.held_out_loss(base, encoded, batch_size=4) == before

    # the same seed on the restored base: the same run
    again, stats_again = lora.train(base, encoded, SETTINGS)
    try:
        assert lora.held_out_loss(again, encoded, batch_size=4) == after
    finally:
        lora.remove_adapter(again)
    assert (stats_again.tokens, stats_again.first_loss, stats_again.last_loss) == (
        stats.tokens, stats.first_loss, stats.last_loss)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="steps"):
        LoraSettings(steps=0, batch_size=1, learning_rate=1e-3, max_tokens=8, rank=1, alpha=1, seed=0)
    with pytest.raises(ValueError, match="learning_rate"):
        LoraSettings(steps=1, batch_size=1, learning_rate=0.0, max_tokens=8, rank=1, alpha=1, seed=0)

"""A bounded LoRA fine-tune of a causal LM, and its loss on held-out examples before and after.

The loss is the token-weighted mean negative log-likelihood of the answers' tokens (the prompt's
are context only), so a long answer weighs as much as its tokens. Training wraps the model in a
fresh adapter; `remove_adapter` takes it off again, leaving the base model as it was for the
next run. torch, transformers and peft are imported by the functions that use them.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from datafoundry.engines.base import Message
from datafoundry.evaluation.examples import Example

#: The label of a token the loss skips (torch's `cross_entropy` default `ignore_index`).
IGNORE = -100


@dataclass(frozen=True)
class LoraSettings:
    """`steps` optimizer steps of `batch_size` examples each, at most `max_tokens` tokens an example."""

    steps: int
    batch_size: int
    learning_rate: float
    max_tokens: int
    rank: int
    alpha: int
    seed: int

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_tokens", "rank", "alpha"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class Loss:
    """Mean negative log-likelihood (nats) over `tokens` answer tokens."""

    nll: float
    tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)


@dataclass(frozen=True)
class Encoded:
    """An example's token ids; `labels` are the ids with `IGNORE` where no loss is taken (the prompt)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass(frozen=True)
class TrainStats:
    """`tokens`: the answer tokens trained on, summed over steps; the losses are of the first and last batch."""

    steps: int
    examples: int
    tokens: int
    seconds: float
    first_loss: float
    last_loss: float


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load(model_dir: str, *, revision: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a directory or a Hub id (at `revision`): float32 on the CPU, bfloat16 on a
    GPU that has it; the model in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = device()
    dtype = torch.bfloat16 if where == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, revision=revision, dtype=dtype)
    model.to(where).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, revision=revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def encode(tokenizer: Any, examples: Sequence[Example], max_tokens: int) -> list[Encoded]:
    """The examples as tokens, each cut to its first `max_tokens`; those with no answer token left are skipped.

    A conversation is rendered with the tokenizer's chat template when it has one; plain text (no
    prompt), or any example when there is no template, is the prompt's contents a line each, then
    the answer and the end-of-sequence token.
    """
    encoded = []
    for ex in examples:
        ids, answer_start = _tokens(tokenizer, ex)
        ids = ids[:max_tokens]
        masked = min(max(answer_start, 1), len(ids))  # nothing predicts the first token
        item = Encoded(ids, [IGNORE] * masked + ids[masked:])
        if item.answer_tokens:
            encoded.append(item)
    return encoded


def _tokens(tokenizer: Any, ex: Example) -> tuple[list[int], int]:
    """The example's token ids and the index of the answer's first token."""
    if ex.prompt and tokenizer.chat_template:
        prompt = _render(tokenizer, ex.prompt, generation_prompt=True)
        full = _render(tokenizer, (*ex.prompt, {"role": "assistant", "content": ex.answer}), generation_prompt=False)
        # the template writes the special tokens (BOS) itself
        return _split(tokenizer, prompt, full, special_tokens=False)
    prompt = "".join(m["content"] + "\n" for m in ex.prompt)
    ids, answer_start = _split(tokenizer, prompt, prompt + ex.answer, special_tokens=True)
    eos = tokenizer.eos_token_id
    if eos is not None and ids[-1:] != [eos]:
        ids = [*ids, eos]
    return ids, answer_start


def _render(tokenizer: Any, messages: Sequence[Message], *, generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    assert isinstance(text, str)
    return text


def _ids(tokenizer: Any, text: str, special_tokens: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special_tokens)["input_ids"])


def _split(tokenizer: Any, prompt: str, full: str, *, special_tokens: bool) -> tuple[list[int], int]:
    """The ids of `full` and how many of them are the prompt's.

    The whole text is tokenized at once, as a model sees it, when the prompt's tokens are a prefix of
    its tokens. When a merge crosses the boundary, the rest of the text is tokenized after the prompt's
    tokens; when the template renders the prompt differently alone, the common prefix is the prompt.
    """
    prompt_ids, full_ids = _ids(tokenizer, prompt, special_tokens), _ids(tokenizer, full, special_tokens)
    if full_ids[: len(prompt_ids)] == prompt_ids:
        return full_ids, len(prompt_ids)
    if full.startswith(prompt):
        return prompt_ids + _ids(tokenizer, full[len(prompt) :], False), len(prompt_ids)
    common = next((i for i, (a, b) in enumerate(zip(prompt_ids, full_ids, strict=False)) if a != b), len(full_ids))
    return full_ids, common


def held_out_loss(model: Any, encoded: Sequence[Encoded], batch_size: int) -> Loss:
    """The loss over all answer tokens of `encoded` (the sum over tokens, not a mean of batch means)."""
    import torch

    if not encoded:
        raise ValueError("no examples to measure the loss on")
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            nll, n = _summed_nll(model, encoded[i : i + batch_size])
            total += float(nll)
            tokens += n
    return Loss(total / tokens, tokens)


def _summed_nll(model: Any, batch: Sequence[Encoded]) -> tuple[Any, int]:
    """(the batch's summed answer-token NLL as a scalar tensor, its answer tokens), padded on the right."""
    import torch
    import torch.nn.functional as F

    where = next(model.parameters()).device
    width = max(len(e.input_ids) for e in batch)

    def padded(rows: list[list[int]], fill: int) -> torch.Tensor:
        return torch.tensor([row + [fill] * (width - len(row)) for row in rows], device=where)

    # the pad id is never seen: padding is masked out of attention and labels
    ids = padded([e.input_ids for e in batch], 0)
    mask = padded([[1] * len(e.input_ids) for e in batch], 0)
    labels = padded([e.labels for e in batch], IGNORE)[:, 1:]
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE,
                          reduction="sum")
    return nll, int((labels != IGNORE).sum())


def train(model: Any, encoded: Sequence[Encoded], settings: LoraSettings,
          on_step: Callable[[int, float], None] | None = None) -> tuple[Any, TrainStats]:
    """A fresh LoRA adapter on `model` (peft's default target modules for its architecture), trained
    for `settings.steps` steps; returns the peft model in eval mode. `on_step(step, loss)` follows
    each step (from 1). The same seed and examples give the same adapter."""
    import torch
    from peft import LoraConfig, get_peft_model

    if not encoded:
        raise ValueError("no examples to train on")
    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=settings.learning_rate)
    batches = _batches(len(encoded), settings.batch_size, random.Random(settings.seed))  # noqa: S311 - reproducible order
    peft_model.train()
    start, tokens, first, last = time.monotonic(), 0, math.nan, math.nan
    for step in range(1, settings.steps + 1):
        nll, n = _summed_nll(peft_model, [encoded[i] for i in next(batches)])
        loss = nll / n
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens, last = tokens + n, loss.item()
        if step == 1:
            first = last
        if on_step is not None:
            on_step(step, last)
    peft_model.eval()
    stats = TrainStats(steps=settings.steps, examples=settings.steps * settings.batch_size, tokens=tokens,
                       seconds=time.monotonic() - start, first_loss=first, last_loss=last)
    return peft_model, stats


def _batches(n: int, size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless batches of `size` indices into `n` examples: shuffled epochs, one after another."""

    def epochs() -> Iterator[int]:
        order = list(range(n))
        while True:
            rng.shuffle(order)
            yield from order

    indices = epochs()
    while True:
        yield list(itertools.islice(indices, size))


def remove_adapter(peft_model: Any) -> Any:
    """The base model, its LoRA layers dropped without merging (as it was before `train`), in eval mode."""
    base = peft_model.unload()
    base.eval()
    return base

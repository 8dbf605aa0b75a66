"""What a strategy is: prompts in, records out.

A strategy turns one *slot* (a position in the shard's deterministic schedule) into a `Prompt`:
chat messages, the JSON Schema the answer must follow (structured output) and provenance. Its
parser turns the completion into a record, or names why it could not (a parse failure or a
refusal: counted by the worker, never fatal). Every random choice comes from the slot's own
`random.Random`, so the same plan, seed, round and shard give the same prompts.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datafoundry.api.spec import Task
from datafoundry.engines.base import Message
from datafoundry.strategies.shapes import Shape, parse_json


@dataclass(frozen=True)
class Seed:
    id: str  # e.g. "seeds.inline[3]" or "s3://bucket/seeds.jsonl:12"
    data: dict[str, Any]


@dataclass(frozen=True)
class DocChunk:
    id: str  # "<object>#<chunk>"
    text: str


@dataclass(frozen=True)
class Inputs:
    """What the task brings besides its text: seed examples and document chunks."""

    seeds: tuple[Seed, ...] = ()
    chunks: tuple[DocChunk, ...] = ()


@dataclass(frozen=True)
class Slot:
    """One record's place: `position` in the round's interleaving over shards, `ordinal` among the
    slots of the same strategy (for even coverage of documents and topics), its own RNG."""

    position: int
    ordinal: int
    rng: random.Random


@dataclass(frozen=True)
class Prompt:
    strategy: str
    messages: tuple[Message, ...]
    schema: dict[str, Any]
    shape: Shape
    #: Provenance particular to the strategy (seed ids, chunk, topic, persona, evolution).
    source: dict[str, Any] = field(default_factory=dict)
    #: Fields copied into the record as they are (e.g. the document chunk a QA pair is about).
    fixed: dict[str, Any] = field(default_factory=dict)
    #: Set for ask-then-answer shapes: this call writes the question (plain text, no schema), a
    #: second call (see `Strategy.answer_messages`) answers it into this field.
    answer_field: str | None = None
    max_tokens: int | None = None  # overrides generator.sampling.maxTokens for this call
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parsed:
    record: dict[str, Any] | None
    failure: str | None = None  # invalid_json, not_object, missing_field, empty_field, refusal, truncated...

    @staticmethod
    def fail(reason: str) -> Parsed:
        return Parsed(None, reason)


@dataclass(frozen=True)
class StrategyContext:
    task: Task
    inputs: Inputs
    options: Mapping[str, Any]
    max_tokens: int


#: A question is a sentence or two: more tokens only let a small model ramble on.
ASK_MAX_TOKENS = 128
_LABEL = re.compile(r"^\s*(?:(?:new\s+)?(?:question|instruction|task|request|q)\s*\d*\s*[:.)-]|\d+[.)]|[-*•])\s*",
                    re.IGNORECASE)


def ask_system_message(task: Task) -> Message:
    lines = [
        "You write questions and tasks that real users of this domain ask an assistant.",
        f"Domain: {task.domain}",
        f"Write in the language with BCP 47 tag '{task.language}'.",
    ]
    if task.instructions:
        lines.append(f"Guidance: {task.instructions}")
    lines.append("Reply with exactly one question or task, in one or two sentences, and nothing else: "
                 "no answer, no preamble, no list.")
    return {"role": "system", "content": "\n".join(lines)}


def question_list(intro: str, questions: Sequence[str]) -> tuple[str, str]:
    """A user message asking for questions and the assistant's numbered list so far, to be continued."""
    listed = "".join(f"{i}. {' '.join(q.split())}\n" for i, q in enumerate(questions, 1))
    return intro, f"{listed}{len(questions) + 1}."


def parse_question(text: str) -> str:
    """The question in a free-text reply: its first paragraph, without a label or quotes around it."""
    first = text.strip().split("\n\n", 1)[0].strip()
    first = _LABEL.sub("", first, count=1).strip()
    if len(first) >= 2 and first[0] == first[-1] and first[0] in "\"'`":
        first = first[1:-1].strip()
    return " ".join(first.split())


def system_message(task: Task, shape: Shape) -> Message:
    lines = [
        "You write high-quality training data for a language model.",
        f"Domain and use case: {task.domain}",
        f"Write in the language with BCP 47 tag '{task.language}'.",
    ]
    if task.instructions:
        lines.append(f"Guidance: {task.instructions}")
    lines.append(f"Answer with exactly one JSON object and nothing else: {shape.describe()}")
    return {"role": "system", "content": "\n".join(lines)}


def answer_system_message(task: Task, context: str | None = None, audience: str | None = None) -> Message:
    """The system turn of the answer call: the domain, the language and what a good answer is."""
    lines = [
        f"You are an expert assistant. Domain: {task.domain}",
        f"Answer in the language with BCP 47 tag '{task.language}'. Give a correct, complete and concise answer: "
        "the actual command, value, steps or explanation, not a promise of one.",
    ]
    if task.instructions:
        lines.append(f"Guidance: {task.instructions}")
    if audience:
        lines.append(f"The user is {audience}; suit the answer to them.")
    if context:
        lines.append(f"Answer only from this passage:\n<passage>\n{context}\n</passage>")
    return {"role": "system", "content": "\n".join(lines)}


SEED_PROMPT_FIELDS = ("instruction", "question", "prompt", "input", "text")


def seed_prompt(seed: Seed) -> str:
    """What the seed asks (its first prompt-like field), else the whole seed as JSON."""
    for key in SEED_PROMPT_FIELDS:
        value = seed.data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return seed_text(seed)


def seed_text(seed: Seed, limit: int = 2000) -> str:
    import json

    return json.dumps(seed.data, ensure_ascii=False)[:limit]


class Strategy(ABC):
    name: ClassVar[str]

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        self.ctx = ctx
        self.shape = shape

    @property
    def options(self) -> Mapping[str, Any]:
        return self.ctx.options

    @abstractmethod
    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(user message, provenance, fixed record fields) for one slot."""

    def seed_example(self, slot: Slot, source: dict[str, Any], intro: str, limit: int = 2000) -> str:
        """`intro` followed by a seed the slot draws (its JSON, cut at `limit`), the seed's id recorded in
        `source`; "" when the job has no seeds (then nothing is drawn)."""
        if not self.ctx.inputs.seeds:
            return ""
        seed = slot.rng.choice(self.ctx.inputs.seeds)
        source["seed"] = seed.id
        return intro + seed_text(seed, limit)

    def build(self, slot: Slot) -> Prompt:
        text, source, fixed = self.user_message(slot)
        if self.shape.ask is not None:  # ask (free text), then answer: see ChunkRunner.answer
            ask, prefill = self.ask(slot, text, source)
            messages: tuple[Message, ...] = (ask_system_message(self.ctx.task), {"role": "user", "content": ask})
            if prefill:  # the model continues a list of questions: one line, the next question
                messages += ({"role": "assistant", "content": prefill},)
            listed = bool(re.search(r"\d\.$", prefill))  # the next item of a numbered list: one line
            return Prompt(strategy=self.name, messages=messages, schema=self.shape.ask.schema, shape=self.shape.ask,
                          source=source, fixed=fixed, answer_field=self.shape.answer_field,
                          max_tokens=min(ASK_MAX_TOKENS, self.ctx.max_tokens), stop=("\n",) if listed else ())
        return Prompt(
            strategy=self.name,
            messages=(system_message(self.ctx.task, self.shape), {"role": "user", "content": text}),
            schema=self.shape.schema,
            shape=self.shape,
            source=source,
            fixed=fixed,
        )

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        """(user message, start of the assistant's reply) of the question call of an ask-then-answer
        shape. A small model writes a far better question when it continues a numbered list of
        questions than when it is told to write one; strategies give it such a list to continue."""
        return text, ""

    def answer_messages(self, prompt: Prompt, question: str) -> tuple[Message, ...]:
        """The second call of an ask-then-answer shape: the question as the user asks it."""
        context = prompt.fixed.get("context")
        audience = prompt.source.get("persona")
        return (answer_system_message(self.ctx.task, context if isinstance(context, str) else None,
                                      audience if isinstance(audience, str) else None),
                {"role": "user", "content": question})

    def parse(self, prompt: Prompt, text: str, finish_reason: str | None) -> Parsed:
        if prompt.answer_field is not None:  # the question of an ask-then-answer prompt, in plain text
            # A question cut at the token limit is still text: generator.screens.truncated judges it.
            question = parse_question(text)
            if not question:
                return Parsed.fail("empty")
            value: Any = {next(iter(prompt.schema["properties"])): question}
            record, failure = prompt.shape.to_record(value)
            return Parsed({**record, **prompt.fixed}) if record is not None else Parsed.fail(failure or "invalid")
        value, failure = parse_json(text)
        if failure is not None:
            return Parsed.fail("truncated" if finish_reason == "length" else failure)
        record, failure = prompt.shape.to_record(value)
        if record is None:
            return Parsed.fail(failure or "invalid")
        return Parsed({**record, **prompt.fixed})


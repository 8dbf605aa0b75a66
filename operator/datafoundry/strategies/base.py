"""What a strategy is: prompts in, records out.

A strategy turns one *slot* (a position in the shard's deterministic schedule) into a `Prompt`:
chat messages, the JSON Schema the answer must follow (structured output) and provenance. Its
parser turns the completion into a record, or names why it could not (a parse failure or a
refusal: counted by the worker, never fatal). Every random choice comes from the slot's own
`random.Random`, so the same plan, seed, round and shard give the same prompts.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
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

    def build(self, slot: Slot) -> Prompt:
        text, source, fixed = self.user_message(slot)
        return Prompt(
            strategy=self.name,
            messages=(system_message(self.ctx.task, self.shape), {"role": "user", "content": text}),
            schema=self.shape.schema,
            shape=self.shape,
            source=source,
            fixed=fixed,
        )

    def parse(self, prompt: Prompt, text: str, finish_reason: str | None) -> Parsed:
        value, failure = parse_json(text)
        if failure is not None:
            return Parsed.fail("truncated" if finish_reason == "length" else failure)
        record, failure = prompt.shape.to_record(value)
        if record is None:
            return Parsed.fail(failure or "invalid")
        return Parsed({**record, **prompt.fixed})


#: Fields every generated record carries besides its content: a stable id and the provenance.
ID_FIELD = "id"
META_FIELD = "meta"
RESERVED_FIELDS = (ID_FIELD, META_FIELD)

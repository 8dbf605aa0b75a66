"""What a strategy is: prompts in, records out.

A strategy turns one *slot* (a position in the shard's deterministic schedule) into a *flow*: a
generator that yields the engine calls the record needs (`Call`: chat messages, the JSON Schema
the answer must follow, limits), is sent each call's `Completion`, and returns an `Outcome`: the
record, or the name of why there is none (a parse failure, a refusal, an eliminated evolution:
counted by the worker, never fatal). The worker drives the flows of a chunk in lockstep, one
engine batch per step, so a flow of several calls costs batches, not round trips per record.

Most strategies need one call (a JSON record) or two (a question, then its answer): the default
`Strategy.flow` runs `build` (a `Prompt`) and, for ask-then-answer shapes, the answer call.
Every random choice comes from the slot's own `random.Random`, so the same plan, seed, round and
shard give the same calls.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datafoundry.api.spec import EngineType, Task
from datafoundry.engines.base import Completion, Message
from datafoundry.strategies.shapes import Shape, clean, is_refusal, parse_json


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

    def call(self) -> Call:
        """The first call: structured output, except for the free-text question of an ask-then-answer shape."""
        return Call(self.messages, schema=None if self.answer_field else self.schema, max_tokens=self.max_tokens,
                    stop=self.stop)


@dataclass(frozen=True)
class Call:
    """One engine request of a flow (the worker adds the sampling seed)."""

    messages: tuple[Message, ...]
    schema: dict[str, Any] | None = None
    max_tokens: int | None = None  # overrides generator.sampling.maxTokens
    temperature: float | None = None  # overrides generator.sampling.temperature
    stop: tuple[str, ...] = ()
    #: Sent to the judge's engine (the judge filter's, else the generator's) instead of the generator's.
    judge: bool = False
    #: The model writes the user's next message after `messages` (see `Request.open_user_turn`).
    open_user_turn: bool = False
    #: The raw prompt that opens that user turn on an OpenAI-compatible server (`Request.pre_query_template`).
    pre_query_template: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a flow ends with: the record's fields, or the name of why there is none."""

    record: dict[str, Any] | None
    failure: str | None = None
    #: "length" when any call of the record stopped at its token limit (the truncated screen judges).
    finish_reason: str | None = None
    #: Provenance for the record's meta.source (seed ids, chunk, topic, evolution steps, judge margin).
    source: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def fail(reason: str, source: dict[str, Any] | None = None) -> Outcome:
        return Outcome(None, reason, source=source or {})


#: A record's calls: yields each `Call`, is sent its `Completion`, returns the `Outcome`.
Flow = Generator[Call, Completion, Outcome]


def finish_of(*completions: Completion) -> str | None:
    """The finish reason of a record made of several calls: "length" if any was cut, else the last's."""
    reasons = [c.finish_reason for c in completions]
    return "length" if "length" in reasons else (reasons[-1] if reasons else None)


def answered_record(fields: dict[str, Any], answer_field: str, answered: Completion, finish: str | None,
                    source: dict[str, Any]) -> Outcome:
    """The record of an ask-then-answer flow: the question's `fields` and the answer in `answer_field`, unless
    the answer is empty (`empty_answer`) or a refusal (`refusal`)."""
    text = clean(answered.text).strip()
    if not text:
        return Outcome(None, "empty_answer", finish, source)
    if is_refusal(text):
        return Outcome(None, "refusal", finish, source)
    return Outcome({**fields, answer_field: text}, None, finish, source)


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
    #: The job's judge filter's rubric (None: it has none, or no judge filter): ranks preference pairs.
    judge_rubric: str | None = None
    #: The generator's engine (how a strategy's calls reach the model, e.g. whether a template renders).
    engine: EngineType = EngineType.VLLM
    #: generator.screens drops records cut at the token limit (then preferencePairs does not rank a cut answer).
    drops_truncated: bool = True


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
    #: Whether the worker feeds `remember` with the records this strategy accepted earlier in the job.
    remembers: ClassVar[bool] = False

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

    def flow(self, slot: Slot) -> Flow:
        """The record's calls: `build`'s prompt, then, for an ask-then-answer shape, the answer call."""
        prompt = self.build(slot)
        done = yield prompt.call()
        parsed = self.parse(prompt, done.text, done.finish_reason)
        if parsed.record is None or prompt.answer_field is None:
            return Outcome(parsed.record, parsed.failure, done.finish_reason, prompt.source)
        fields = parsed.record
        question = next((v for k, v in fields.items() if isinstance(v, str) and k not in prompt.fixed), "")
        answered = yield Call(self.answer_messages(prompt, question))
        return answered_record(fields, prompt.answer_field, answered, finish_of(done, answered), prompt.source)

    def memory(self) -> int | None:
        """At most how many of its latest accepted records `remember` needs (None: all of them); the worker
        reads no further back. Only asked when `remembers` is set."""
        return None

    def remember(self, records: Iterable[Mapping[str, Any]]) -> None:  # noqa: B027 - most strategies keep no state
        """Records of this strategy the job accepted before this chunk (earlier rounds, earlier chunks of
        this shard), oldest first; only called when `remembers` is set."""

    def admit(self, record: Mapping[str, Any]) -> str | None:
        """Called in position order for each record that passed parsing and the screens: a named drop
        reason, or None (accepted; a stateful strategy remembers it)."""
        return None

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


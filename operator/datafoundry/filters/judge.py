"""LLM-as-judge: ask a model for a 0..10 score of each record, keep the records scored high enough.

Scoring and filtering are split because they run in different places. :class:`JudgeScorer` calls
an inference engine and writes the score into the record's metadata (``meta.judge``); it runs
where the engine lives: in the generator pod right after a chunk is generated (the loaded vLLM
model, or an OpenAI-compatible endpoint), or in a curation job's filter pod against an endpoint.
:class:`JudgeFilter` is then an ordinary, pure filter of the chain: it reads the score and drops
records below the minimum, so its drops show in the funnel like every other filter's. A score is
stored with the immutable generated part it belongs to, so a resumed or rerun shard sees the same
score and the dataset does not change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from datafoundry.engines.base import Engine, Message, Request
from datafoundry.filters.base import KEEP, Filter, FilterResult, Record
from datafoundry.records.fields import META_FIELD, RESERVED_FIELDS

JUDGE_KEY = "judge"
MAX_SCORE = 10
#: The record as the judge sees it is cut here: a judge prompt must fit any model's context.
MAX_RECORD_CHARS = 6000
#: The answer is `{"score": N}`; a few tokens more in case the engine pads.
SCORE_MAX_TOKENS = 16

DEFAULT_RUBRIC = (
    "Rate the training example below for use in fine-tuning an assistant. Score 0-10: 10 means correct, "
    "complete, well written and useful; 5 means usable but flawed; 0 means wrong, empty, off-topic, "
    "repetitive or harmful. Judge only the example, not its formatting."
)

#: Structured output: exactly one integer score; xgrammar enforces the enum.
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "enum": list(range(MAX_SCORE + 1))}},
    "required": ["score"],
    "additionalProperties": False,
}

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def judge_messages(record: Mapping[str, Any], rubric: str | None = None) -> tuple[Message, ...]:
    """The chat a judge model answers for one record (its content, without id and metadata)."""
    content = {k: v for k, v in record.items() if k not in RESERVED_FIELDS}
    shown = json.dumps(content, ensure_ascii=False, indent=1)
    if len(shown) > MAX_RECORD_CHARS:
        shown = shown[:MAX_RECORD_CHARS] + "\n[... truncated]"
    return (
        {"role": "system", "content": (rubric or DEFAULT_RUBRIC) + ' Answer with JSON: {"score": <0-10>}.'},
        {"role": "user", "content": f"Example:\n{shown}"},
    )


def parse_score(text: str) -> float | None:
    """The score in a judge's answer: `{"score": N}`, or the first number; None when there is none
    or it is outside 0..10."""
    value: Any = None
    try:
        parsed = json.loads(text)
        value = parsed.get("score") if isinstance(parsed, dict) else parsed
    except ValueError:
        match = _NUMBER.search(text)
        value = match.group() if match else None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= MAX_SCORE else None


def score_of(record: Mapping[str, Any]) -> float | None:
    meta = record.get(META_FIELD)
    judge = meta.get(JUDGE_KEY) if isinstance(meta, Mapping) else None
    score = judge.get("score") if isinstance(judge, Mapping) else None
    return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None


def with_score(record: Record, score: float | None, model: str) -> Record:
    """A copy of `record` with `meta.judge = {score, model}` (score None: the answer did not parse)."""
    meta = record.get(META_FIELD)
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    meta[JUDGE_KEY] = {"score": score, "model": model}
    return {**record, META_FIELD: meta}


def request_seed(record: Mapping[str, Any]) -> int:
    """A per-record seed from its content: the same record is asked the same way on every rerun."""
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "big")


class JudgeScorer:
    """Scores batches of records with an engine, greedily (temperature 0) and with structured output."""

    def __init__(self, engine: Engine, rubric: str | None = None) -> None:
        self.engine = engine
        self.rubric = rubric
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def score(self, records: Sequence[Record]) -> list[Record]:
        """The records with `meta.judge` set, in order (one engine batch)."""
        if not records:
            return []
        requests = [Request(messages=judge_messages(r, self.rubric), seed=request_seed(r), schema=SCORE_SCHEMA,
                            max_tokens=SCORE_MAX_TOKENS, temperature=0.0) for r in records]
        completions = self.engine.generate(requests)
        self.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.completion_tokens += sum(c.completion_tokens for c in completions)
        model = self.engine.model_name
        return [with_score(r, parse_score(c.text), model) for r, c in zip(records, completions, strict=True)]


class JudgeFilter(Filter):
    """Drops records whose judge score is below `min_score`, or that have no valid score."""

    type = "judge"

    def __init__(self, *, min_score: float = 7.0, name: str | None = None) -> None:
        super().__init__(name=name)
        if not 0.0 <= min_score <= MAX_SCORE:
            raise ValueError(f"min_score must be within 0..{MAX_SCORE}, got {min_score}")
        self.min_score = min_score
        self._scores: Counter[str] = Counter()

    def apply(self, record: Record) -> FilterResult:
        score = score_of(record)
        if score is None:
            self._scores["unscored"] += 1
            return FilterResult.drop("unscored")
        self._scores[f"score_{int(score)}"] += 1
        if score < self.min_score:
            return FilterResult.drop("below_min_score")
        return KEEP

    def stats(self) -> Mapping[str, int]:
        return dict(self._scores)

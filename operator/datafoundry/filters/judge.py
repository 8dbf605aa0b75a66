"""LLM-as-judge: ask a model for a 0..10 score of each record, keep the records scored high enough.

Scoring and filtering are split because they run in different places. :class:`JudgeScorer` calls
an inference engine and writes the score into the record's metadata (``meta.judge``); it runs
where the engine lives: in the generator pod right after a chunk is generated (the loaded vLLM
model, or an OpenAI-compatible endpoint), or in a curation job's filter pod against an endpoint.
:class:`JudgeFilter` is then an ordinary, pure filter of the chain: it reads the score and drops
records below the minimum, so its drops show in the funnel like every other filter's. A score is
stored with the immutable generated part it belongs to, so a resumed or rerun shard sees the same
score and the dataset does not change. The judge's prompt and the reading of its answer are
`datafoundry.records.judge`, shared with the preferencePairs strategy's ranking.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from datafoundry.engines.base import Engine, Request
from datafoundry.filters.base import KEEP, Filter, FilterResult, Record
from datafoundry.records.fields import META_FIELD
from datafoundry.records.judge import MAX_SCORE, SCORE_MAX_TOKENS, SCORE_SCHEMA, judge_messages, parse_score

JUDGE_KEY = "judge"


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

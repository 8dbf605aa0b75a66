"""The judge filter's pure parts: the score in the metadata, the
filter's decisions, and what the scorer asks an engine for (a scripted engine stands in for the
model here; tests/integration/test_generate_worker.py runs the judge on vLLM)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from datafoundry.engines.base import Completion, Request
from datafoundry.filters import FilterChain
from datafoundry.filters.judge import JudgeFilter, JudgeScorer, request_seed, score_of, with_score
from datafoundry.records.judge import SCORE_SCHEMA


def test_with_score_copies_and_keeps_existing_metadata() -> None:
    record = {"id": "a", "text": "t", "meta": {"model": "gen"}}
    scored = with_score(record, 8.0, "judge-model")
    assert scored["meta"] == {"model": "gen", "judge": {"score": 8.0, "model": "judge-model"}}
    assert record["meta"] == {"model": "gen"}  # the input is not mutated
    assert score_of(scored) == 8.0
    assert score_of(record) is None
    assert score_of(with_score({"text": "t"}, None, "j")) is None
    assert score_of({"meta": {"judge": {"score": True}}}) is None


def test_filter_keeps_at_or_above_min_and_counts_reasons() -> None:
    chain = FilterChain([JudgeFilter(min_score=6)])
    records = [with_score({"id": str(i), "text": "t"}, s, "j") for i, s in enumerate([9, 6, 5.5, 0, None])]
    records.append({"id": "never-scored", "text": "t"})
    kept = [r["id"] for r in chain.run(records)]
    assert kept == ["0", "1"]
    assert chain.funnel.dropped_by["judge"] == {"below_min_score": 2, "unscored": 2}
    assert chain.stats()["judge"] == {"score_9": 1, "score_6": 1, "score_5": 1, "score_0": 1, "unscored": 2}


def test_min_score_is_bounded() -> None:
    with pytest.raises(ValueError, match="min_score"):
        JudgeFilter(min_score=11)


class ScriptedEngine:
    """Answers each request with the next scripted text and records what it was asked."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.requests: list[Request] = []

    @property
    def model_name(self) -> str:
        return "judge-model"

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.requests += requests
        return [Completion(self.answers.pop(0), prompt_tokens=30, completion_tokens=4) for _ in requests]

    def close(self) -> None:
        pass


def test_scorer_asks_greedily_with_the_schema_and_stable_seeds() -> None:
    engine = ScriptedEngine(['{"score": 9}', "garbage", '{"score": 3}'])
    scorer = JudgeScorer(engine, rubric="Be strict.")
    records = [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}, {"id": "c", "text": "three"}]
    scored = scorer.score(records)
    assert [score_of(r) for r in scored] == [9.0, None, 3.0]
    assert all(r["meta"]["judge"]["model"] == "judge-model" for r in scored)
    assert all(q.temperature == 0.0 and q.schema == SCORE_SCHEMA and q.max_tokens for q in engine.requests)
    assert engine.requests[0].messages[0]["content"].startswith("Be strict.")
    assert [q.seed for q in engine.requests] == [request_seed(r) for r in records]
    assert len({q.seed for q in engine.requests}) == 3
    assert (scorer.prompt_tokens, scorer.completion_tokens) == (90, 12)
    assert scorer.score([]) == [] and len(engine.requests) == 3

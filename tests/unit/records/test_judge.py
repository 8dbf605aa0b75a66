"""The judge's prompt and the reading of its answer (shared by the judge filter and preferencePairs)."""

from __future__ import annotations

import pytest

from datafoundry.records.judge import DEFAULT_RUBRIC, judge_messages, parse_score


@pytest.mark.parametrize(("text", "expected"), [
    ('{"score": 7}', 7.0),
    ('{"score":10}', 10.0),
    ('{"score": 0}', 0.0),
    ("8", 8.0),
    ("I would give it 6 out of 10", 6.0),
    ('{"score": 11}', None),
    ('{"score": -1}', None),
    ('{"score": "high"}', None),
    ('{"other": 3}', None),
    ("", None),
    ('{"score": ', None),
    ("no number here", None),
])
def test_parse_score(text: str, expected: float | None) -> None:
    assert parse_score(text) == expected


def test_messages_show_content_not_id_or_metadata_and_use_the_rubric() -> None:
    record = {"id": "secret-id-123", "instruction": "How?", "response": "Like this.", "meta": {"model": "m"}}
    system, user = judge_messages(record)
    assert system["role"] == "system" and system["content"].startswith(DEFAULT_RUBRIC)
    assert '"How?"' in user["content"] and '"Like this."' in user["content"]
    assert "secret-id-123" not in user["content"] and '"model"' not in user["content"]
    assert judge_messages(record, "Only grammar counts.")[0]["content"].startswith("Only grammar counts.")
    long = judge_messages({"text": "x" * 50_000})[1]["content"]
    assert len(long) < 7000 and long.endswith("[... truncated]")

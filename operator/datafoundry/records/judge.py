"""How a judge model is asked about one record, and how its answer is read.

The judge filter scores whole records (`datafoundry.filters.judge`); the preferencePairs strategy
scores each sampled response to rank them (`datafoundry.strategies.preference_pairs`). Both send
the same chat: the rubric, then the record's content as JSON (without `id` and `meta`), answered
greedily with structured output that allows exactly one integer score 0..10.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from datafoundry.records.fields import RESERVED_FIELDS

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


def judge_messages(record: Mapping[str, Any], rubric: str | None = None) -> tuple[dict[str, str], ...]:
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

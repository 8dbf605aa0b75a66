"""Records as training examples: the conversation before the answer, and the answer the loss is measured on.

The shapes are the ones the product publishes and the filters read: chat `messages` (or ShareGPT
`conversations`), instruction/response (or `output`, with an optional `input`), question/answer
(with the documentQA `context`), preference pairs (the prompt and its `chosen` answer), prompt/completion,
classification (the text, then its label) and plain `text` (an answer with no prompt). A field that
is not a non-empty string counts as absent: Parquet shards give every record every column, null
where it lacks one. Metadata (`id`, `meta`, `_source`, ...) is never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datafoundry.engines.base import Message

#: ShareGPT's speaker names, as chat roles.
_ROLES = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant", "system": "system"}
#: (prompt fields, answer field) of the flat shapes, in the order they are tried.
_FLAT_SHAPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("prompt",), "chosen"),
    (("instruction", "input"), "response"),
    (("instruction", "input"), "output"),
    (("context", "question"), "answer"),
    (("prompt",), "completion"),
    (("prompt",), "response"),
    (("text",), "label"),
)


@dataclass(frozen=True)
class Example:
    """One example: `prompt` is the conversation before the answer (empty for plain text)."""

    prompt: tuple[Message, ...]
    answer: str


def example(record: Mapping[str, Any]) -> Example | None:
    """The record as an example, or None when it has no shape above or its answer is empty."""
    for key in ("messages", "conversations"):
        turns = record.get(key)
        if isinstance(turns, list):
            return _dialogue(turns)
    system = _text(record, "system")
    prefix: tuple[Message, ...] = ({"role": "system", "content": system},) if system else ()
    for prompt_fields, answer_field in _FLAT_SHAPES:
        answer = _text(record, answer_field)
        parts = [p for p in (_text(record, f) for f in prompt_fields) if p]
        if answer and parts:
            return Example((*prefix, {"role": "user", "content": "\n\n".join(parts)}), answer)
    text = _text(record, "text")
    return Example((), text) if text else None


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _dialogue(turns: Sequence[Any]) -> Example | None:
    """Everything before the last assistant turn, then that turn; None when a turn is malformed."""
    messages: list[Message] = []
    for turn in turns:
        if not isinstance(turn, Mapping):
            return None
        role, content = turn.get("role", turn.get("from")), turn.get("content", turn.get("value"))
        if not isinstance(role, str) or role.lower() not in _ROLES or not isinstance(content, str):
            return None
        messages.append({"role": _ROLES[role.lower()], "content": content})
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None or not messages[last]["content"].strip():
        return None
    return Example(tuple(messages[:last]), messages[last]["content"])

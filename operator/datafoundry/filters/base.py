"""Records, filter results and the filter interface.

A record is one JSON object from a JSONL line (``dict[str, Any]``). A filter judges one record and
answers keep, drop (with a short, low-cardinality reason) or modify (with the new record).
Filters that need to see the records that survived the *whole* chain (dedup indexes, MinHash
signatures) also implement :class:`Observer`; the chain calls ``observe`` once per accepted record,
in output order, so their indexes line up with the records that are written.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]

#: Fields read by default, in this order, when a filter judges "the text" of a record.
DEFAULT_TEXT_FIELDS: tuple[str, ...] = (
    "system",
    "instruction",
    "prompt",
    "question",
    "input",
    "context",
    "output",
    "response",
    "answer",
    "completion",
    "chosen",
    "rejected",
    "text",
    "messages",
    "conversations",
)


class Action(enum.Enum):
    KEEP = "keep"
    DROP = "drop"
    MODIFY = "modify"


@dataclass(frozen=True, slots=True)
class FilterResult:
    action: Action
    reason: str = ""
    record: Record | None = None

    @staticmethod
    def drop(reason: str) -> FilterResult:
        return FilterResult(Action.DROP, reason)

    @staticmethod
    def modify(record: Record, reason: str = "") -> FilterResult:
        return FilterResult(Action.MODIFY, reason, record)


#: The one shared "keep" answer: filters return it instead of allocating a result per record.
KEEP = FilterResult(Action.KEEP)


class Filter(ABC):
    """One step of the chain. ``name`` identifies it in the funnel (unique within a chain)."""

    type: str = "filter"

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.type

    @abstractmethod
    def apply(self, record: Record) -> FilterResult:
        """Judge one record. Must not mutate ``record``; return a new one via ``modify``."""

    def stats(self) -> Mapping[str, int]:
        """Filter-specific counters for the funnel report (e.g. PII kinds found)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@runtime_checkable
class Observer(Protocol):
    def observe(self, record: Record) -> None:
        """Called by the chain for every record accepted by all filters, in output order."""


def require_positive(**values: int) -> None:
    """A filter's whole-number parameters that must be 1 or more: ValueError naming the first that is not."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item
            elif isinstance(item, dict):
                # chat messages ({"role", "content"}) and ShareGPT turns ({"from", "value"})
                content = item.get("content", item.get("value"))
                if isinstance(content, str):
                    yield content
                elif isinstance(content, list):  # multimodal content parts
                    for part in content:
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            yield part["text"]


def texts_of(record: Mapping[str, Any], fields: Sequence[str] | None = None) -> list[str]:
    """The non-empty strings of ``fields`` (default: well-known ones), one per field or message.

    Lists of strings and lists of chat messages (``content``/``value``) contribute each element.
    """
    parts: list[str] = []
    for key in DEFAULT_TEXT_FIELDS if fields is None else fields:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            if value:
                parts.append(value)
        else:
            parts.extend(s for s in _iter_strings(value) if s)
    return parts


def text_of(record: Mapping[str, Any], fields: Sequence[str] | None = None) -> str:
    """The text to judge: :func:`texts_of` joined by newlines."""
    return "\n".join(texts_of(record, fields))

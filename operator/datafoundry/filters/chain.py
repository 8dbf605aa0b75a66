"""An ordered chain of filters and the funnel of what it kept, dropped and modified."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datafoundry.filters.base import Action, Filter, Observer, Record


@dataclass
class Funnel:
    seen: int = 0
    kept: int = 0
    dropped_by: dict[str, dict[str, int]] = field(default_factory=dict)
    modified_by: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(sum(reasons.values()) for reasons in self.dropped_by.values())

    def dropped_total(self, filter_name: str) -> int:
        return sum(self.dropped_by.get(filter_name, {}).values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "kept": self.kept,
            "droppedBy": {k: dict(v) for k, v in self.dropped_by.items()},
            "modifiedBy": dict(self.modified_by),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Funnel:
        return cls(
            seen=int(data.get("seen", 0)),
            kept=int(data.get("kept", 0)),
            dropped_by={k: {r: int(n) for r, n in v.items()} for k, v in data.get("droppedBy", {}).items()},
            modified_by={k: int(n) for k, n in data.get("modifiedBy", {}).items()},
        )


class FilterChain:
    """Runs filters in order; the first drop wins. Counts every outcome in :attr:`funnel`."""

    def __init__(self, filters: Sequence[Filter]) -> None:
        names = [f.name for f in filters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"filter names must be unique within a chain; repeated: {', '.join(duplicates)}")
        self.filters: tuple[Filter, ...] = tuple(filters)
        self._observers: tuple[Observer, ...] = tuple(f for f in filters if isinstance(f, Observer))
        self.funnel = Funnel()
        for f in self.filters:
            self.funnel.dropped_by[f.name] = {}
            self.funnel.modified_by[f.name] = 0

    def apply(self, record: Record) -> Record | None:
        """The record as it leaves the chain (possibly modified), or None if a filter dropped it."""
        funnel = self.funnel
        funnel.seen += 1
        for f in self.filters:
            result = f.apply(record)
            action = result.action
            if action is Action.KEEP:
                continue
            if action is Action.DROP:
                reasons = funnel.dropped_by[f.name]
                reasons[result.reason] = reasons.get(result.reason, 0) + 1
                return None
            assert result.record is not None
            record = result.record
            funnel.modified_by[f.name] += 1
        funnel.kept += 1
        for observer in self._observers:
            observer.observe(record)
        return record

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            out = self.apply(record)
            if out is not None:
                yield out

    def stats(self) -> dict[str, dict[str, int]]:
        """Filter-specific counters (e.g. PII kinds, matched benchmarks), by filter name."""
        return {f.name: dict(s) for f in self.filters if (s := f.stats())}

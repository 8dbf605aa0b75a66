"""N-gram decontamination against the user's evaluation sets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, text_of
from datafoundry.filters.minhash import shingle_words


def _ngram_hashes(text: str, n: int) -> set[int]:
    words = shingle_words(text).split()
    return {hash(g) for g in zip(*(words[i:] for i in range(n)), strict=False)}


@dataclass
class ContaminationReport:
    """Which evaluation items leaked into the data, and how many records each benchmark cost."""

    records_by_benchmark: Counter[str] = field(default_factory=Counter)
    items: dict[str, set[str]] = field(default_factory=dict)  # benchmark -> matched item ids
    skipped_short_items: int = 0  # eval items with fewer words than the n-gram size

    def to_dict(self) -> dict[str, object]:
        return {
            "recordsByBenchmark": dict(self.records_by_benchmark),
            "items": {b: sorted(ids) for b, ids in sorted(self.items.items())},
            "skippedShortItems": self.skipped_short_items,
        }


class DecontaminationFilter(Filter):
    """Drops records sharing word n-grams (normalised, default 13) with any evaluation item.

    ``eval_items``: ``(benchmark, item_id, text)`` triples. A record is contaminated when it shares
    at least ``min_matches`` n-grams with the evaluation sets and at least ``min_fraction`` of its
    own n-grams are shared. Drop reason: ``contaminated:<benchmark>`` (the benchmark with most
    shared n-grams); :attr:`report` names every matched item. N-gram hashes use Python's ``hash``:
    the index lives in the process that built it.
    """

    type = "decontamination"

    def __init__(
        self,
        *,
        eval_items: Iterable[tuple[str, str, str]],
        ngram: int = 13,
        min_matches: int = 1,
        min_fraction: float = 0.0,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        if min_matches < 1:
            raise ValueError(f"min_matches must be >= 1, got {min_matches}")
        self.ngram = ngram
        self.min_matches = min_matches
        self.min_fraction = min_fraction
        self.fields = fields
        self.report = ContaminationReport()
        self._items: list[tuple[str, str]] = []
        index: dict[int, int | list[int]] = {}
        for benchmark, item_id, text in eval_items:
            grams = _ngram_hashes(text, ngram)
            if not grams:
                self.report.skipped_short_items += 1
                continue
            item = len(self._items)
            self._items.append((benchmark, item_id))
            for g in grams:
                known = index.get(g)
                if known is None:
                    index[g] = item
                elif isinstance(known, int):
                    if known != item:
                        index[g] = [known, item]
                else:
                    known.append(item)
        self._index = index
        self.benchmarks = frozenset(b for b, _ in self._items)

    @property
    def indexed_items(self) -> int:
        return len(self._items)

    def apply(self, record: Record) -> FilterResult:
        grams = _ngram_hashes(text_of(record, self.fields), self.ngram)
        index = self._index
        shared = [g for g in grams if g in index]
        if len(shared) < self.min_matches or len(shared) < self.min_fraction * len(grams):
            return KEEP
        per_item: Counter[int] = Counter()
        for g in shared:
            hit = index[g]
            if isinstance(hit, int):
                per_item[hit] += 1
            else:
                per_item.update(hit)
        per_benchmark: Counter[str] = Counter()
        for item, n in per_item.items():
            benchmark, item_id = self._items[item]
            per_benchmark[benchmark] += n
            self.report.items.setdefault(benchmark, set()).add(item_id)
        top = min(per_benchmark, key=lambda b: (-per_benchmark[b], b))
        self.report.records_by_benchmark[top] += 1
        return FilterResult.drop(f"contaminated:{top}")

    def stats(self) -> Mapping[str, int]:
        return {f"records:{b}": n for b, n in self.report.records_by_benchmark.items()} | {
            f"items:{b}": len(ids) for b, ids in self.report.items.items()
        }

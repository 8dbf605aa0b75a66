"""Decontamination against the user's evaluation sets: word n-grams, and whole short items.

Texts are compared as normalised words (:func:`~datafoundry.filters.minhash.shingle_words`:
NFKC, casefold, punctuation dropped, each CJK/Thai character a word). An item's *parts* are its
lines (an eval record's text fields are joined by newlines: question, answer...). Every item with
at least one word can be matched; how depends on its length in words:

- ``ngram`` words or more (13 by default): the record shares word ``ngram``-grams with it
  (at least ``min_matches`` with the evaluation sets, and ``min_fraction`` of its own);
- fewer than ``ngram`` words, at least ``min_phrase_words`` (5 by default): a *short item*. It
  matches when the record's text (its fields joined) contains the item's words as one contiguous
  sequence (whole words), or when the record contains each part of the item as a contiguous
  sequence, anywhere and in any order, and one part has ``min_phrase_words`` words or more. The
  second rule catches a copied question and answer with other fields between them (a document QA
  record keeps its source chunk as ``context``, between ``question`` and ``answer``);
- fewer than ``min_phrase_words`` words: also a short item, but matched only by equality: a whole
  field of the record (or one chat message, or the record's whole text) equals the item, or each
  part of the item equals some whole field. "Yes" or "the dashboard" would otherwise drop every
  record that uses those words.

A short-item match drops the record whatever ``min_matches`` and ``min_fraction`` say (they
weigh partial n-gram overlap; a short item is found whole). Items without any word (empty or only
punctuation) cannot match anything: they are counted (``emptyItems``), never silently skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, require_positive, texts_of
from datafoundry.filters.minhash import shingle_words

#: Short items with fewer words than this are matched only by equality with a whole field.
MIN_PHRASE_WORDS = 5

Words = list[bytes]


def _words(text: str) -> Words:
    return shingle_words(text).split()


def _contains(words: Words, seq: Words) -> bool:
    """``seq`` occurs in ``words`` as a contiguous run."""
    n, first = len(seq), seq[0]
    return any(words[i : i + n] == seq for i in range(len(words) - n + 1) if words[i] == first)


def _ngram_hashes(words: Words, n: int) -> set[int]:
    return {hash(g) for g in zip(*(words[i:] for i in range(n)), strict=False)}


@dataclass
class EvalSetCounts:
    """How the items of one evaluation set (benchmark) are matched."""

    items: int = 0  # read
    short_items: int = 0  # fewer words than the n-gram size: matched whole, not by n-grams
    exact_only_items: int = 0  # of those, under min_phrase_words: matched only by whole-field equality
    empty_items: int = 0  # no words at all: nothing to match

    @property
    def indexed(self) -> int:
        return self.items - self.empty_items

    def to_dict(self) -> dict[str, int]:
        return {
            "items": self.items,
            "indexed": self.indexed,
            "shortItems": self.short_items,
            "exactOnlyItems": self.exact_only_items,
            "emptyItems": self.empty_items,
        }


@dataclass
class ContaminationReport:
    """Which evaluation items leaked into the data, how many records each benchmark cost, and how
    each benchmark's items were indexed."""

    ngram: int = 13
    min_phrase_words: int = MIN_PHRASE_WORDS
    records_by_benchmark: Counter[str] = field(default_factory=Counter)
    items: dict[str, set[str]] = field(default_factory=dict)  # benchmark -> matched item ids
    eval_sets: dict[str, EvalSetCounts] = field(default_factory=dict)  # benchmark -> its items

    def to_dict(self) -> dict[str, object]:
        return {
            "ngram": self.ngram,
            "minPhraseWords": self.min_phrase_words,
            "recordsByBenchmark": dict(self.records_by_benchmark),
            "items": {b: sorted(ids) for b, ids in sorted(self.items.items())},
            "evalSets": {b: c.to_dict() for b, c in sorted(self.eval_sets.items())},
        }


class DecontaminationFilter(Filter):
    """Drops records that contain an evaluation item: shared word n-grams, or a whole short item
    (see the module docstring for the rules by item length).

    ``eval_items``: ``(benchmark, item_id, text)`` triples. Drop reason: ``contaminated:<benchmark>``
    (the benchmark with most shared n-grams plus matched short items; ties alphabetical);
    :attr:`report` names every matched item and counts each benchmark's items by how they are
    matched. Hashes use Python's ``hash``: the index lives in the process that built it.
    """

    type = "decontamination"

    def __init__(
        self,
        *,
        eval_items: Iterable[tuple[str, str, str]],
        ngram: int = 13,
        min_matches: int = 1,
        min_fraction: float = 0.0,
        min_phrase_words: int = MIN_PHRASE_WORDS,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        require_positive(ngram=ngram, min_matches=min_matches, min_phrase_words=min_phrase_words)
        self.ngram = ngram
        self.min_matches = min_matches
        self.min_fraction = min_fraction
        self.min_phrase_words = min_phrase_words
        self.fields = fields
        self.report = ContaminationReport(ngram=ngram, min_phrase_words=min_phrase_words)
        self._items: list[tuple[str, str]] = []
        # n-gram hash -> item(s). Short items: a word sequence to find, keyed by its first
        # min_phrase_words words, with the other parts that must be found too. Tiny items: by text.
        index: dict[int, int | list[int]] = {}
        self._phrases: dict[tuple[bytes, ...], list[tuple[int, Words, list[Words]]]] = {}
        self._exact: dict[bytes, list[tuple[int, list[bytes]]]] = {}
        for benchmark, item_id, text in eval_items:
            counts = self.report.eval_sets.setdefault(benchmark, EvalSetCounts())
            counts.items += 1
            parts = [w for w in (_words(line) for line in text.splitlines()) if w]
            words = [w for part in parts for w in part]
            if not words:
                counts.empty_items += 1
                continue
            item = len(self._items)
            self._items.append((benchmark, item_id))
            if len(words) < ngram:
                counts.short_items += 1
                if len(words) < min_phrase_words:
                    counts.exact_only_items += 1
                    self._index_exact(item, words, parts)
                else:
                    self._index_phrase(item, words, parts)
                continue
            for g in _ngram_hashes(words, ngram):
                known = index.get(g)
                if known is None:
                    index[g] = item
                elif isinstance(known, int):
                    if known != item:
                        index[g] = [known, item]
                else:
                    known.append(item)
        self._index = index
        self._phrase_starts = frozenset(key[0] for key in self._phrases)
        self.benchmarks = frozenset(b for b, _ in self._items)

    def _index_phrase(self, item: int, words: Words, parts: list[Words]) -> None:
        k = self.min_phrase_words
        self._phrases.setdefault(tuple(words[:k]), []).append((item, words, []))
        if len(parts) > 1:
            key = max(parts, key=len)  # the longest part, found first; then every other part
            if len(key) >= k:
                others = [p for p in parts if p is not key]
                self._phrases.setdefault(tuple(key[:k]), []).append((item, key, others))

    def _index_exact(self, item: int, words: Words, parts: list[Words]) -> None:
        self._exact.setdefault(b" ".join(words), []).append((item, []))
        if len(parts) > 1:
            first, *others = (b" ".join(p) for p in parts)
            self._exact.setdefault(first, []).append((item, others))

    @property
    def indexed_items(self) -> int:
        """Items that can be matched (every item with at least one word)."""
        return len(self._items)

    def apply(self, record: Record) -> FilterResult:
        texts = texts_of(record, self.fields)
        words = _words("\n".join(texts))
        per_item: Counter[int] = Counter()
        if self._index:
            self._match_ngrams(words, per_item)
        if self._phrases:
            self._match_phrases(words, per_item)
        if self._exact:
            self._match_exact(texts, words, per_item)
        if not per_item:
            return KEEP
        per_benchmark: Counter[str] = Counter()
        for item, n in per_item.items():
            benchmark, item_id = self._items[item]
            per_benchmark[benchmark] += n
            self.report.items.setdefault(benchmark, set()).add(item_id)
        top = min(per_benchmark, key=lambda b: (-per_benchmark[b], b))
        self.report.records_by_benchmark[top] += 1
        return FilterResult.drop(f"contaminated:{top}")

    def _match_ngrams(self, words: Words, per_item: Counter[int]) -> None:
        grams = _ngram_hashes(words, self.ngram)
        index = self._index
        shared = [g for g in grams if g in index]
        if len(shared) < self.min_matches or len(shared) < self.min_fraction * len(grams):
            return
        for g in shared:
            hit = index[g]
            if isinstance(hit, int):
                per_item[hit] += 1
            else:
                per_item.update(hit)

    def _match_phrases(self, words: Words, per_item: Counter[int]) -> None:
        k, starts, phrases = self.min_phrase_words, self._phrase_starts, self._phrases
        for i in range(len(words) - k + 1):
            if words[i] not in starts:
                continue
            for item, seq, others in phrases.get(tuple(words[i : i + k]), ()):
                if item in per_item or words[i : i + len(seq)] != seq:
                    continue
                if all(_contains(words, other) for other in others):
                    per_item[item] += 1

    def _match_exact(self, texts: list[str], words: Words, per_item: Counter[int]) -> None:
        fields = {b" ".join(words)}
        if len(texts) > 1:
            fields.update(b" ".join(_words(t)) for t in texts)
        for key in fields:
            for item, others in self._exact.get(key, ()):
                if item not in per_item and all(other in fields for other in others):
                    per_item[item] += 1

    def stats(self) -> Mapping[str, int]:
        # Records per benchmark add up over shards; matched item ids do not (the same item can be
        # found on two shards): their union is in the report (manifest: decontamination.items).
        return {f"records:{b}": n for b, n in self.report.records_by_benchmark.items()}

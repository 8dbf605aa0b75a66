"""Heuristic quality filter: Gopher/C4/FineWeb-style repetition and symbol rules, refusals, boilerplate.

Thresholds follow Gopher (Rae et al. 2021, as in DataTrove's GopherRepetitionFilter) but the
repetition rules run per field (instruction, response, each chat turn) and only on fields long
enough for the statistics to mean something, so that a response that quotes its instruction, or a
short answer that repeats a phrase of the question, is kept.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, texts_of
from datafoundry.filters.text import WORD_RE

DEFAULT_REFUSAL_PHRASES: tuple[str, ...] = (
    "as an ai language model",
    "as a language model",
    "as an ai assistant, i",
    "as a large language model",
    "i'm just an ai",
    "i am just an ai",
    "i cannot help with that",
    "i can't help with that",
    "i cannot assist with that",
    "i can't assist with that",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm not able to help with that",
    "i cannot fulfill this request",
    "i can't fulfill this request",
    "i cannot comply with",
    "i can't comply with",
    "i must decline",
    "i'm unable to provide",
    "i am unable to provide",
)

DEFAULT_BOILERPLATE_PHRASES: tuple[str, ...] = (
    "lorem ipsum",
    "my knowledge cutoff",
    "my training data only goes",
    "i don't have access to real-time",
    "i do not have access to real-time",
    "as of my last update",
    "as of my last training",
    "click here to subscribe",
    "all rights reserved",
)

#: Gopher: the most frequent n-gram may cover at most this fraction of the characters.
DEFAULT_TOP_NGRAM_CHAR_FRACTION: Mapping[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
#: Gopher: characters inside repeated n-grams (second and later occurrences), at most this fraction.
DEFAULT_DUP_NGRAM_CHAR_FRACTION: Mapping[int, float] = {
    5: 0.15,
    6: 0.14,
    7: 0.13,
    8: 0.12,
    9: 0.11,
    10: 0.10,
}

_SYMBOL_RE = re.compile(r"[^\w\s]")
_ELLIPSIS_RE = re.compile(r"\.\.\.|…")
_NO_SPACE_CHAR_RE = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _phrase_re(phrases: Sequence[str]) -> re.Pattern[str] | None:
    """One alternation of literal phrases; it starts with literals so ``re`` can skip ahead fast.
    The left word boundary is checked by the caller."""
    if not phrases:
        return None
    ordered = sorted({_fold(p) for p in phrases}, key=len, reverse=True)
    return re.compile("(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")


def _fold(text: str) -> str:
    return text.casefold().replace("\u2019", "'")


def _contains_phrase(pattern: re.Pattern[str] | None, folded: str) -> bool:
    if pattern is None:
        return False
    for m in pattern.finditer(folded):
        start = m.start()
        if start == 0 or not folded[start - 1].isalnum():
            return True
    return False


def _top_ngram_char_fraction(words: list[str], n: int, total_chars: int) -> float:
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    gram, count = grams.most_common(1)[0]
    if count <= 1:
        return 0.0
    return count * sum(len(w) for w in gram) / total_chars


def _dup_ngram_char_fraction(words: list[str], n: int, total_chars: int) -> float:
    """Characters in non-overlapping repeats of an already seen n-gram (Gopher / DataTrove)."""
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    i, last = 0, len(words) - n
    while i <= last:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated += sum(len(w) for w in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated / total_chars


class QualityFilter(Filter):
    """Drops degenerate, repetitive, symbol-heavy, refusing or boilerplate records.

    Record-level rules (all fields together): ``min_words``/``max_words``, ``max_symbol_ratio``
    (non-word, non-space characters over non-space characters), ``max_ellipsis_word_ratio``,
    mean word length bounds (needs ``min_words_for_stats`` words outside CJK/Thai), refusal and
    boilerplate phrases (case-insensitive, whole words).
    Field-level rules (each field or chat turn on its own): duplicate lines and their characters,
    lines ending in an ellipsis (fields with ``min_lines`` lines or more), top n-gram and duplicate
    n-gram character fractions and zlib compression ratio (fields with ``min_words_for_repetition``
    words or more). Pass ``None`` to switch a rule off.
    """

    type = "quality"

    def __init__(
        self,
        *,
        min_words: int | None = 3,
        max_words: int | None = None,
        max_symbol_ratio: float | None = 0.5,
        max_ellipsis_word_ratio: float | None = 0.1,
        min_mean_word_length: float | None = 2.0,
        max_mean_word_length: float | None = 15.0,
        min_words_for_stats: int = 10,
        max_duplicate_line_fraction: float | None = 0.3,
        max_duplicate_line_char_fraction: float | None = 0.2,
        max_ellipsis_line_fraction: float | None = 0.3,
        min_lines: int = 4,
        min_line_chars: int = 8,
        top_ngram_char_fraction: Mapping[int, float] | None = None,
        dup_ngram_char_fraction: Mapping[int, float] | None = None,
        min_words_for_repetition: int = 50,
        max_compression_ratio: float | None = 6.0,
        refusal_phrases: Sequence[str] | None = None,
        boilerplate_phrases: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.min_words = min_words
        self.max_words = max_words
        self.max_symbol_ratio = max_symbol_ratio
        self.max_ellipsis_word_ratio = max_ellipsis_word_ratio
        self.min_mean_word_length = min_mean_word_length
        self.max_mean_word_length = max_mean_word_length
        self.min_words_for_stats = min_words_for_stats
        self.max_duplicate_line_fraction = max_duplicate_line_fraction
        self.max_duplicate_line_char_fraction = max_duplicate_line_char_fraction
        self.max_ellipsis_line_fraction = max_ellipsis_line_fraction
        self.min_lines = min_lines
        self.min_line_chars = min_line_chars
        self.top_ngram = dict(
            DEFAULT_TOP_NGRAM_CHAR_FRACTION if top_ngram_char_fraction is None else top_ngram_char_fraction
        )
        self.dup_ngram = dict(
            DEFAULT_DUP_NGRAM_CHAR_FRACTION if dup_ngram_char_fraction is None else dup_ngram_char_fraction
        )
        self._min_dup_n = min(self.dup_ngram, default=0)
        self.min_words_for_repetition = min_words_for_repetition
        self.max_compression_ratio = max_compression_ratio
        self._refusal = _phrase_re(DEFAULT_REFUSAL_PHRASES if refusal_phrases is None else refusal_phrases)
        self._boilerplate = _phrase_re(
            DEFAULT_BOILERPLATE_PHRASES if boilerplate_phrases is None else boilerplate_phrases
        )
        self.fields = fields

    def apply(self, record: Record) -> FilterResult:
        parts = texts_of(record, self.fields)
        text = "\n".join(parts)
        folded = _fold(text)
        field_words = [WORD_RE.findall(_fold(part)) for part in parts]
        all_words = [w for words in field_words for w in words]
        n_words = len(all_words)
        if self.min_words is not None and n_words < self.min_words:
            return FilterResult.drop("too_few_words")
        if self.max_words is not None and n_words > self.max_words:
            return FilterResult.drop("too_many_words")
        reason = self._record_rules(text, folded, all_words)
        if reason is None:
            for part, words in zip(parts, field_words, strict=True):
                reason = self._field_rules(part, words)
                if reason is not None:
                    break
        return KEEP if reason is None else FilterResult.drop(reason)

    def _record_rules(self, text: str, folded: str, all_words: list[str]) -> str | None:
        n_words = len(all_words)
        if self.max_symbol_ratio is not None:
            non_space = len("".join(text.split()))
            if non_space and _SYMBOL_RE.subn("", text)[1] / non_space > self.max_symbol_ratio:
                return "symbol_ratio"
        if self.max_ellipsis_word_ratio is not None and n_words:
            ellipses = len(_ELLIPSIS_RE.findall(text))
            if ellipses and ellipses / n_words > self.max_ellipsis_word_ratio:
                return "ellipsis_ratio"
        if self.min_mean_word_length is not None or self.max_mean_word_length is not None:
            spaced = all_words if text.isascii() else [w for w in all_words if not _NO_SPACE_CHAR_RE.match(w)]
            if len(spaced) >= self.min_words_for_stats:
                mean = sum(map(len, spaced)) / len(spaced)
                if self.min_mean_word_length is not None and mean < self.min_mean_word_length:
                    return "mean_word_length"
                if self.max_mean_word_length is not None and mean > self.max_mean_word_length:
                    return "mean_word_length"
        if _contains_phrase(self._refusal, folded):
            return "refusal"
        if _contains_phrase(self._boilerplate, folded):
            return "boilerplate"
        return None

    def _field_rules(self, part: str, words: list[str]) -> str | None:
        reason = self._line_rules(part)
        if reason is not None:
            return reason
        if len(words) < self.min_words_for_repetition:
            return None
        total_chars = sum(map(len, words))
        if not total_chars:
            return None
        if self.max_compression_ratio is not None:
            raw = part.encode("utf-8")
            if len(raw) / len(zlib.compress(raw, 1)) > self.max_compression_ratio:
                return "compression_ratio"
        for n, limit in self.top_ngram.items():
            if len(words) >= n and _top_ngram_char_fraction(words, n, total_chars) > limit:
                return f"top_{n}gram"
        if self.dup_ngram and len(words) >= self._min_dup_n:
            # Cheap gate: if no n-gram of the smallest size repeats, no longer one does either.
            n0 = self._min_dup_n
            n_grams = len(words) - n0 + 1
            if len(set(zip(*(words[i:] for i in range(n0)), strict=False))) < n_grams:
                for n, limit in sorted(self.dup_ngram.items()):
                    if len(words) >= n and _dup_ngram_char_fraction(words, n, total_chars) > limit:
                        return f"duplicate_{n}gram"
        return None

    def _line_rules(self, part: str) -> str | None:
        if "\n" not in part:
            return None
        lines = [s for line in part.split("\n") if (s := line.strip())]
        if len(lines) < self.min_lines:
            return None
        if self.max_ellipsis_line_fraction is not None:
            ending = sum(1 for s in lines if s.endswith(("...", "…")))
            if ending / len(lines) > self.max_ellipsis_line_fraction:
                return "ellipsis_lines"
        long_lines = [s for s in lines if len(s) >= self.min_line_chars]
        if len(long_lines) < self.min_lines:
            return None
        counts = Counter(long_lines)
        if len(counts) == len(long_lines):
            return None
        dup_lines = sum(c - 1 for c in counts.values())
        limit = self.max_duplicate_line_fraction
        if limit is not None and dup_lines / len(long_lines) > limit:
            return "duplicate_lines"
        if self.max_duplicate_line_char_fraction is not None:
            dup_chars = sum(len(s) * (c - 1) for s, c in counts.items())
            if dup_chars / sum(map(len, long_lines)) > self.max_duplicate_line_char_fraction:
                return "duplicate_line_chars"
        return None

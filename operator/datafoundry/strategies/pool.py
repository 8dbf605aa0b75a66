"""Self-Instruct's instruction pool: the seeds plus the generated instructions accepted so far.

A new instruction joins the pool only if it passes Self-Instruct's filters (Wang et al. 2023), each
a named drop reason:

- ``too_short`` / ``too_long``: fewer than ``minWords`` or more than ``maxWords`` words;
- ``excluded_keyword``: names something a text model cannot see or make (image, file, plot...), as a
  whole word or phrase, in any case;
- ``not_text``: starts with punctuation, a digit or another non-letter;
- ``similar_to_pool``: ROUGE-L F1 (lowercased words) of ``maxSimilarity`` or more with a seed or a
  pooled instruction.

The pool holds at most ``poolSize`` generated instructions (the oldest is evicted first) besides the
seeds, so a check costs at most ``poolSize + seeds`` comparisons; most are settled by an upper bound
on the F1 (the LCS is at most the words two lists share) without computing the LCS.
Everything is a pure function of the seeds, the options and the order of `admit`/`add` calls.
"""

from __future__ import annotations

import random
import re
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from datafoundry.strategies.screens import NOVELTY_THRESHOLD, rouge_l, words

DEFAULT_MIN_WORDS = 3
DEFAULT_MAX_WORDS = 150
DEFAULT_MAX_SIMILARITY = NOVELTY_THRESHOLD
DEFAULT_POOL_SIZE = 1000
#: Self-Instruct's list: tasks a language model cannot do from text alone.
DEFAULT_EXCLUDED_KEYWORDS = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
                             "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")

TOO_SHORT, TOO_LONG, EXCLUDED_KEYWORD, NOT_TEXT, SIMILAR_TO_POOL = (
    "too_short", "too_long", "excluded_keyword", "not_text", "similar_to_pool")
#: The drop reasons of `InstructionPool.admit`, by name (counted as `generator/<name>`).
POOL_DROPS = frozenset({TOO_SHORT, TOO_LONG, EXCLUDED_KEYWORD, NOT_TEXT, SIMILAR_TO_POOL})


@dataclass(frozen=True)
class Pooled:
    """An instruction in the pool: where it comes from (a seed's or a record's id), its text and words."""

    id: str
    text: str
    words: tuple[str, ...]
    counts: Counter[str]


def pooled(id_: str, text: str) -> Pooled:
    ws = tuple(words(text))
    return Pooled(id_, text, ws, Counter(ws))


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any keyword as a whole word or phrase (any spacing)."""
    alternatives = [r"\s+".join(re.escape(part) for part in k.split()) for k in keywords if k.strip()]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def similarity_bound(a: Pooled, b: Pooled) -> float:
    """An upper bound on ROUGE-L F1: the LCS is at most the multiset intersection of the two word lists."""
    small, large = (a.counts, b.counts) if len(a.counts) <= len(b.counts) else (b.counts, a.counts)
    inter = sum(min(n, large.get(w, 0)) for w, n in small.items())
    return 2 * inter / (len(a.words) + len(b.words))


def too_similar(a: Pooled, b: Pooled, threshold: float) -> bool:
    """ROUGE-L F1 of a and b >= threshold; the LCS is computed only where the cheap bounds allow it."""
    la, lb = len(a.words), len(b.words)
    if not la or not lb or 2 * min(la, lb) / (la + lb) < threshold or similarity_bound(a, b) < threshold:
        return False
    return rouge_l(a.words, b.words) >= threshold


class InstructionPool:
    """The seeds (kept for good) and at most `size` generated instructions (oldest evicted first)."""

    def __init__(self, seeds: Iterable[tuple[str, str]] = (), *, min_words: int = DEFAULT_MIN_WORDS,
                 max_words: int = DEFAULT_MAX_WORDS, max_similarity: float = DEFAULT_MAX_SIMILARITY,
                 excluded_keywords: Sequence[str] = DEFAULT_EXCLUDED_KEYWORDS, size: int = DEFAULT_POOL_SIZE) -> None:
        if min_words < 0 or max_words < min_words:
            raise ValueError(f"minWords ({min_words}) must be >= 0 and at most maxWords ({max_words})")
        if not 0 < max_similarity <= 1:
            raise ValueError(f"maxSimilarity must be in (0, 1], not {max_similarity}")
        if size < 0:
            raise ValueError(f"poolSize must be >= 0, not {size}")
        self.min_words, self.max_words, self.max_similarity = min_words, max_words, max_similarity
        self.excluded = keyword_pattern(excluded_keywords)
        self.seeds = tuple(p for id_, text in seeds if (p := pooled(id_, text)).words)
        self.generated: deque[Pooled] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self.generated)

    def check(self, text: str) -> str | None:
        """Why `text` may not join the pool, or None; the pool is unchanged."""
        candidate = pooled("", text)
        n = len(candidate.words)
        if n < self.min_words:
            return TOO_SHORT
        if n > self.max_words:
            return TOO_LONG
        if self.excluded is not None and self.excluded.search(text):
            return EXCLUDED_KEYWORD
        if not text.lstrip()[:1].isalpha():
            return NOT_TEXT
        if any(too_similar(candidate, p, self.max_similarity) for p in (*self.seeds, *self.generated)):
            return SIMILAR_TO_POOL
        return None

    def admit(self, text: str, id_: str = "") -> str | None:
        """Add `text` if it passes every filter (None); else the name of the first it fails, pool unchanged."""
        reason = self.check(text)
        if reason is None:
            self.add(id_, text)
        return reason

    def add(self, id_: str, text: str) -> None:
        """Pool `text` unchecked (an instruction accepted before, e.g. by another shard)."""
        if self.generated.maxlen:
            self.generated.append(pooled(id_, text))

    def sample(self, rng: random.Random, k: int) -> list[Pooled]:
        """k distinct generated instructions (fewer when the pool holds fewer), in the rng's order."""
        k = max(0, min(k, len(self.generated)))
        return rng.sample(list(self.generated), k) if k else []

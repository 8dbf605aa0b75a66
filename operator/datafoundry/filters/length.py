"""Length bounds in characters and tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record, text_of
from datafoundry.filters.text import count_tokens


def _tokenizer_counter(path: str | Path) -> Callable[[str], int]:
    """Token counter from a Hugging Face ``tokenizer.json`` (needs the ``tokenizers`` package)."""
    from tokenizers import Tokenizer

    tok: Any = Tokenizer.from_file(str(path))

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


class LengthFilter(Filter):
    """Drops records whose text is too short or too long (reasons ``too_few_chars`` etc.).

    Tokens are counted with a cheap regex tokenizer (words and punctuation marks) unless
    ``tokenizer`` names a ``tokenizer.json``; they are only counted when a token bound is set.
    """

    type = "length"

    def __init__(
        self,
        *,
        min_chars: int | None = None,
        max_chars: int | None = None,
        min_tokens: int | None = None,
        max_tokens: int | None = None,
        tokenizer: str | Path | None = None,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        for label, lo, hi in (("chars", min_chars, max_chars), ("tokens", min_tokens, max_tokens)):
            if (lo is not None and lo < 0) or (hi is not None and hi < 0):
                raise ValueError(f"length bounds must be >= 0 (min_{label}={lo}, max_{label}={hi})")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"min_{label}={lo} is greater than max_{label}={hi}")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.fields = fields
        self._count_tokens = count_tokens if tokenizer is None else _tokenizer_counter(tokenizer)

    def apply(self, record: Record) -> FilterResult:
        text = text_of(record, self.fields)
        n = len(text)
        if self.min_chars is not None and n < self.min_chars:
            return FilterResult.drop("too_few_chars")
        if self.max_chars is not None and n > self.max_chars:
            return FilterResult.drop("too_many_chars")
        if self.min_tokens is None and self.max_tokens is None:
            return KEEP
        t = self._count_tokens(text)
        if self.min_tokens is not None and t < self.min_tokens:
            return FilterResult.drop("too_few_tokens")
        if self.max_tokens is not None and t > self.max_tokens:
            return FilterResult.drop("too_many_tokens")
        return KEEP

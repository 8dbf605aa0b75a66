"""The ASCII fast paths (bytes.translate) give what the general paths give: text.normalize (NFKC,
casefold, regex) and quality.count_symbols (a regex findall)."""

from __future__ import annotations

import random
import unicodedata

from datafoundry.filters import quality, text
from datafoundry.filters.base import text_of

from .filter_corpus import load_real


def _general(s: str) -> str:
    return " ".join(text._NON_WORD_RE.sub(" ", unicodedata.normalize("NFKC", s).casefold()).split())


def _ascii_samples() -> list[str]:
    rng = random.Random(0)
    alphabet = [chr(i) for i in range(128)]
    return alphabet + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20_000)]


def test_every_ascii_character_and_random_ascii_text() -> None:
    for s in _ascii_samples():
        assert s.isascii() and text.normalize(s) == _general(s), repr(s)
        assert quality.count_symbols(s) == len(quality._SYMBOL_RE.findall(s)), repr(s)


def test_the_real_corpora() -> None:
    texts = [text_of(r) for records in load_real().values() for r in records]
    assert any(t.isascii() for t in texts) and not all(t.isascii() for t in texts)
    for t in texts:
        assert text.normalize(t) == _general(t)
        assert quality.count_symbols(t) == len(quality._SYMBOL_RE.findall(t))

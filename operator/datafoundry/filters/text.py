"""Text normalisation and cheap tokenisation shared by the filters."""

from __future__ import annotations

import re
import unicodedata

# CJK ideographs, kana and Thai have no spaces between words: each character counts as a word.
_NO_SPACE_SCRIPTS = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD_RE = re.compile(rf"[{_NO_SPACE_SCRIPTS}]|[^\W{_NO_SPACE_SCRIPTS}]+")
TOKEN_RE = re.compile(rf"[{_NO_SPACE_SCRIPTS}]|[^\W{_NO_SPACE_SCRIPTS}]+|[^\w\s]")
_NON_WORD_RE = re.compile(r"[^\w\s]|_")
_ASCII_NON_WORD_TO_SPACE = bytes(32 if i < 128 and _NON_WORD_RE.match(chr(i)) else i for i in range(256))


def normalize(text: str) -> str:
    """NFKC, casefold, punctuation and symbols to spaces, whitespace collapsed to single spaces.

    Two texts that differ only in case, spacing, punctuation or Unicode presentation normalise
    to the same string.
    """
    if text.isascii():  # the same result for ASCII (NFKC: no change, casefold: lower), by bytes.translate
        return " ".join(text.lower().encode("ascii").translate(_ASCII_NON_WORD_TO_SPACE).decode("ascii").split())
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


def normalized_words(text: str) -> list[str]:
    return _NON_WORD_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split()


def words(text: str) -> list[str]:
    """Words as runs of letters/digits (each CJK/kana/Thai character is a word)."""
    return WORD_RE.findall(text)


def count_tokens(text: str) -> int:
    """A cheap token count: words plus punctuation marks (roughly 1.3 per English word)."""
    return len(TOKEN_RE.findall(text))

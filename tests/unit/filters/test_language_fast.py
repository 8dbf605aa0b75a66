"""The fast language identifier (memoised automaton walk, float32 table) decides exactly as py3langid.

Compared on every text of the real and defective corpora, the gibberish the quality tests generate,
word-shuffled text and edge cases, whole and cut to the filter's 500 characters, with py3langid's own
identifier loaded fresh (not the sped-up one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datafoundry.filters import language
from datafoundry.filters.base import text_of

from .filter_corpus import CORPORA, handwritten, keyboard_mash, random_hangul, random_model_outputs, response_of

EDGE_CASES = ["", " ", "  two  spaces  ", "trailing space ", " leading", "12345", "!!!", "x" * 600,
              "héllo wörld, ça va ?", "안녕하세요 세계", "日本語のテキストです", "ALL CAPS TEXT HERE", "a\tb\nc d"]


def _texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(CORPORA.glob("**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record: dict[str, Any] = json.loads(line)
                texts.append(text_of(record))
                texts += [m["content"] for m in record.get("messages", ())]
    en = [response_of(r) for r in handwritten("en")]
    texts += random_model_outputs(en, 100, seed=1) + keyboard_mash(50, seed=5) + random_hangul(50, seed=8)
    return texts + EDGE_CASES


@pytest.fixture(scope="module")
def reference() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def test_the_corpora_are_found() -> None:
    assert Path(__file__).resolve().parent / "corpora" == CORPORA and len(_texts()) > 500


def test_fast_identifier_decides_as_py3langid(reference: Any) -> None:
    fast = language._identifier()
    assert type(fast) is not type(reference)  # the sped-up one is compared with the original
    for _ in range(2):  # the second pass reads the walks from the memo
        for text in _texts():
            for cut in (text, text[:500]):
                lang, prob = reference.classify(cut)
                assert language.identify(cut) == (lang, float(prob)), cut[:80]


def test_the_memo_is_bounded(reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = language._fast_class().from_model_file("data/model.npz.xz", norm_probs=True)
    monkeypatch.setattr(language, "WALK_MEMO_SIZE", 50)
    for text in _texts()[:200]:
        assert fast.classify(text) == reference.classify(text)
        assert len(fast._memo) <= 50

from __future__ import annotations

import pytest

from datafoundry.filters import Action, FilterChain, LanguageFilter
from datafoundry.filters.language import identify

ENGLISH = {
    "instruction": "Explain why the sky is blue.",
    "output": "Sunlight is scattered by the molecules of the air, and blue light is scattered much more "
    "than red light because of its shorter wavelength, so the sky looks blue.",
}
FRENCH = {
    "instruction": "Expliquez pourquoi le ciel est bleu.",
    "output": "La lumière du soleil est diffusée par les molécules de l'air, et la lumière bleue est "
    "beaucoup plus diffusée que la lumière rouge, donc le ciel paraît bleu.",
}
KOREAN = {
    "instruction": "하늘이 왜 파란색인지 설명하세요.",
    "output": "햇빛은 공기 분자에 의해 산란되는데, 파란빛은 파장이 짧아서 빨간빛보다 훨씬 더 많이 "
    "산란됩니다. 그래서 하늘이 파랗게 보입니다.",
}
GERMAN = {
    "instruction": "Erklären Sie, warum der Himmel blau ist.",
    "output": "Das Sonnenlicht wird von den Molekülen der Luft gestreut, und blaues Licht wird viel "
    "stärker gestreut als rotes Licht, deshalb erscheint der Himmel blau.",
}


def test_identify() -> None:
    assert identify(ENGLISH["output"])[0] == "en"
    assert identify(FRENCH["output"])[0] == "fr"
    assert identify(KOREAN["output"])[0] == "ko"
    lang, prob = identify(GERMAN["output"])
    assert lang == "de"
    assert prob > 0.9


def test_wrong_language_dropped_right_language_kept() -> None:
    chain = FilterChain([LanguageFilter(languages=["en-US"])])
    out = list(chain.run([ENGLISH, FRENCH, KOREAN, GERMAN]))
    assert out == [ENGLISH]
    assert chain.funnel.dropped_by["language"] == {"language:fr": 1, "language:ko": 1, "language:de": 1}


def test_several_languages_and_confidence() -> None:
    f = LanguageFilter(languages=["ko", "en"])
    assert f.apply(KOREAN).action is Action.KEEP
    assert f.apply(ENGLISH).action is Action.KEEP
    assert f.apply(FRENCH).reason == "language:fr"
    assert f.apply({"text": "   "}).reason == "no_text"
    assert f.apply(KOREAN).action is Action.KEEP
    assert dict(f.stats()) == {"ko": 2, "en": 1}  # what it kept, by language: the quality report's mix
    # a confidently English record fails a confidence bar above its probability
    strict = LanguageFilter(languages=["en"], min_confidence=1.0)
    assert strict.apply({"text": "ok 42"}).reason == "low_confidence"


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unsupported language code"):
        LanguageFilter(languages=["xx"])
    with pytest.raises(ValueError, match="at least one language"):
        LanguageFilter(languages=[])

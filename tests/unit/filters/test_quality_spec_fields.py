"""Every field of a `quality` filter in the spec reaches the filter the worker builds.

`test_quality.py::test_each_rule_keeps_and_drops` proves each rule keeps and drops with its
threshold; this proves the spec's field is that threshold (a field the worker forgot to pass would
leave the default, which none of the values below is).
"""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry import api
from datafoundry.api.spec import QualityFilter as QualitySpec
from datafoundry.filters.quality import QualityFilter
from datafoundry.workers.recipe_filters import build_one

#: spec field -> (value, what the built filter holds, the attribute's expected value)
FIELDS: dict[str, tuple[Any, str, Any]] = {
    "minWords": (7, "min_words", 7),
    "maxWords": (500, "max_words", 500),
    "stopWords": (["foo", "bar"], "stop_words", frozenset({"foo", "bar"})),
    "minStopWords": (5, "min_stop_words", 5),
    "minStopWordRatio": (0.2, "min_stop_word_ratio", 0.2),
    "minMeanWordLength": (2.5, "min_mean_word_length", 2.5),
    "maxMeanWordLength": (12.5, "max_mean_word_length", 12.5),
    "minAlphaWordRatio": (0.6, "min_alpha_word_ratio", 0.6),
    "maxSymbolWordRatio": (0.3, "max_symbol_word_ratio", 0.3),
    "maxSymbolCharRatio": (0.4, "max_symbol_char_ratio", 0.4),
    "maxBulletLineRatio": (0.7, "max_bullet_line_ratio", 0.7),
    "maxEllipsisLineRatio": (0.2, "max_ellipsis_line_ratio", 0.2),
    "maxLineRepetitionRatio": (0.35, "max_dup_line", 0.35),
    "maxLineRepetitionCharRatio": (0.25, "max_dup_line_chars", 0.25),
    "maxParagraphRepetitionRatio": (0.33, "max_dup_para", 0.33),
    "maxParagraphRepetitionCharRatio": (0.22, "max_dup_para_chars", 0.22),
    "maxNgramRepetitionRatio": (0.25, "top_ngram", {2: 0.27, 3: 0.25, 4: 0.23}),
    "maxDuplicateNgramRatio": (0.12, "dup_ngram", {5: 0.12, 6: 0.11, 7: 0.10, 8: 0.09, 9: 0.08, 10: 0.07}),
    "maxCompressionRatio": (7.5, "max_compression_ratio", 7.5),
    "maxLowercaseSentenceRatio": (0.6, "max_lowercase_sentence_ratio", 0.6),
    "minLinePunctuationRatio": (0.15, "min_line_punctuation_ratio", 0.15),
    "maxShortLineRatio": (0.5, "max_short_line_ratio", 0.5),
    "maxCharDuplicateRatio": (0.05, "max_char_duplicate_ratio", 0.05),
    "rejectCurlyBraces": (True, "reject_curly_braces", True),
}


def build(quality: dict[str, Any]) -> QualityFilter:
    spec = api.DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "q"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/model"},
        "filters": [{"type": "quality", **quality}],
        "output": {"uri": "file:///out"},
    })
    assert spec.filters is not None
    built = build_one(spec.filters[0], spec, {})
    assert isinstance(built, QualityFilter)
    return built


def test_every_threshold_field_of_the_spec_is_listed() -> None:
    spec_fields = {info.alias for name, info in QualitySpec.model_fields.items()
                   if name not in ("type", "name", "language", "disabled_rules", "reject_refusals")}
    assert spec_fields == set(FIELDS)


@pytest.mark.parametrize("field", FIELDS)
def test_a_quality_field_of_the_spec_sets_the_filter(field: str) -> None:
    value, attribute, expected = FIELDS[field]
    default = getattr(build({}), attribute)
    built = getattr(build({field: value}), attribute)
    assert built != default, f"{field}: the value is the default; pick another"
    assert built == (pytest.approx(expected) if isinstance(expected, (float, dict)) else expected)


def test_language_disabled_rules_and_reject_refusals_reach_the_filter() -> None:
    built = build({"language": "de", "disabledRules": ["bullet_lines", "top_3gram"], "rejectRefusals": False})
    assert built.profile.language == "de"
    assert {"bullet_lines", "top_3gram", "refusal"} <= built.disabled_rules
    assert built.max_bullet_line_ratio is None and 3 not in built.top_ngram
    assert build({}).profile.language == "en"  # task.language's default

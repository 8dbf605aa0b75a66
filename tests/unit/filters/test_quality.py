"""The quality filter: real text is kept, gibberish is dropped, and every rule keeps and drops.

Rates are measured on ``corpora/real`` (every JSONL file of each language folder) and on
gibberish generated from fixed seeds (``filter_corpus``); run this file with ``-s`` to see them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api import spec as api
from datafoundry.filters import Action, FilterChain, QualityFilter
from datafoundry.filters.quality import RULES, ends_sentence, split_code
from datafoundry.filters.stopwords import STOP_WORD_LANGUAGES, profile_for
from datafoundry.workers.recipe_filters import build_one

from .filter_corpus import (
    NORMAL_RECORDS,
    as_records,
    handwritten,
    instruction_of,
    keyboard_mash,
    load_real,
    random_hangul,
    random_model_outputs,
    repeated_phrases,
    response_of,
    shuffled_records,
)

REAL = load_real()
Record = dict[str, Any]

LONG_ANSWER = (
    "Photosynthesis is the process by which green plants, algae and some bacteria turn light into "
    "chemical energy. Inside the chloroplasts, chlorophyll absorbs mostly red and blue light. That energy "
    "splits water molecules, releasing oxygen as a by-product, and produces ATP and NADPH. In the Calvin "
    "cycle, the plant then uses ATP and NADPH to fix carbon dioxide from the air into three-carbon sugars, "
    "which it later assembles into glucose, starch and cellulose. The rate of photosynthesis depends on "
    "light intensity, the concentration of carbon dioxide and temperature; when any of them is low, it "
    "limits the whole process. Nearly all life on Earth depends on it, directly or indirectly."
)


def rate(filter_: QualityFilter, records: list[Record], action: Action) -> tuple[float, Counter[str]]:
    reasons: Counter[str] = Counter()
    hits = 0
    for record in records:
        result = filter_.apply(record)
        reasons[result.reason or "keep"] += 1
        hits += result.action is action
    return hits / len(records), reasons


# --------------------------------------------------------------------------------------------
# real text is kept, gibberish is dropped
# --------------------------------------------------------------------------------------------


def test_the_real_corpus_is_large_enough() -> None:
    assert len(REAL["en"]) >= 60 and len(REAL["ko"]) >= 40


@pytest.mark.parametrize("language", sorted(REAL))
def test_real_text_is_kept(language: str) -> None:
    kept, reasons = rate(QualityFilter(language=language), REAL[language], Action.KEEP)
    print(f"\nreal {language}: kept {kept:.1%} of {len(REAL[language])} {dict(reasons)}")
    assert kept >= 0.97, reasons


def _gibberish() -> dict[str, tuple[str, list[Record]]]:
    en, ko = handwritten("en"), handwritten("ko")
    en_texts = [response_of(r) for r in en]
    en_prompts, ko_prompts = [instruction_of(r) for r in en], [instruction_of(r) for r in ko]
    return {
        "random_model": ("en", list(as_records(random_model_outputs(en_texts, 400, seed=1), en_prompts))),
        "shuffled_words": ("en", [r for seed in (2, 3, 4) for r in shuffled_records(en, seed)]),
        "keyboard_mash": ("en", list(as_records(keyboard_mash(300, seed=5), en_prompts))),
        "keyboard_mash_ko": ("ko", list(as_records(keyboard_mash(300, seed=6, hangul=True), ko_prompts))),
        "repeated_phrases": ("en", list(as_records(repeated_phrases(en_texts, 400, seed=7), en_prompts))),
        "random_hangul": ("ko", list(as_records(random_hangul(400, seed=8), ko_prompts))),
    }


GIBBERISH = _gibberish()


@pytest.mark.parametrize("kind", sorted(GIBBERISH))
def test_gibberish_is_dropped(kind: str) -> None:
    language, records = GIBBERISH[kind]
    assert len(records) >= 150
    dropped, reasons = rate(QualityFilter(language=language), records, Action.DROP)
    print(f"\n{kind} ({language}): dropped {dropped:.1%} of {len(records)} {dict(reasons)}")
    assert dropped >= 0.98, reasons


DEFECTIVE = {path.stem: [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
             for path in sorted((Path(__file__).parent / "corpora" / "defective").glob("*.jsonl"))}


@pytest.mark.parametrize("name", sorted(DEFECTIVE))
def test_real_model_defects_are_dropped(name: str) -> None:
    """Outputs of real models that are not language or not usable: the tiny random Llama's text and
    SmolLM2-135M-Instruct's repetition loops, saved from runs (see corpora/README.md)."""
    records = DEFECTIVE[name]
    assert len(records) >= 10
    dropped, reasons = rate(QualityFilter(language="en"), records, Action.DROP)
    print(f"\n{name}: dropped {dropped:.1%} of {len(records)} {dict(reasons)}")
    assert dropped >= 0.98, reasons


def test_shuffled_text_is_caught_by_punctuation_and_sentence_case_not_by_stop_words() -> None:
    # stop words survive a shuffle; what gives it away is where the full stops land
    _, records = GIBBERISH["shuffled_words"]
    _, reasons = rate(QualityFilter(), records, Action.DROP)
    assert reasons["terminal_punctuation"] + reasons["lowercase_sentences"] >= 0.95 * len(records)
    assert reasons["stop_words"] == 0


@pytest.mark.parametrize("record", [*NORMAL_RECORDS, {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER}])
def test_normal_instruction_records_are_kept(record: Record) -> None:
    result = QualityFilter().apply(record)
    assert result.action is Action.KEEP, result.reason


def test_a_response_that_quotes_its_instruction_is_kept() -> None:
    # rules run per field: a rewrite task repeats most of its input by design
    record = {"instruction": "Rewrite in the passive voice: " + LONG_ANSWER, "output": LONG_ANSWER}
    assert QualityFilter().apply(record).action is Action.KEEP


# --------------------------------------------------------------------------------------------
# every rule: a case it keeps, a case it drops; switched off, it drops nothing
# --------------------------------------------------------------------------------------------

NUMBERS_TABLE = (
    "The readings for the week were as follows, in the order they were taken at the station: "
    + ", ".join(str(11 + 7 * i) for i in range(40))
    + ". All of them are in degrees."
)
TEN_LINES = [
    "The tide comes in slowly over the flat grey sand",
    "and the gulls wait on the posts of the old pier",
    "while a dog runs along the edge of the water",
    "chasing the foam that the small waves leave behind",
    "a man in a yellow coat walks the other way",
    "with his hands in his pockets and his head down",
    "the café on the corner has not opened yet",
    "but the smell of bread drifts from the bakery",
    "somewhere a radio plays an old song about the sea",
    "and the first bus of the day turns into the square",
]
SHORT_LINES = [
    "Buy the milk.", "Call the bank.", "Feed the cat.", "Pay the rent.", "Water the plants.",
    "Book the dentist.", "Fix the tap.", "Clean the car.", "Post the letter.", "Walk the dog.",
    "Read a book.", "Go to bed early.",
]
VERSE = [line + "." for line in TEN_LINES]
CAT = ["very", "good", "soft", "cat"]
PHRASE = ["photosynthesis", "converts", "sunlight", "into", "chemical", "energy", "inside", "green", "chloroplasts",
          "everywhere"]


def _ngram_text(n: int) -> str:
    """Real prose in which one n-word phrase comes back five times."""
    return " ".join([*LONG_ANSWER.split()[:50], *(" ".join(PHRASE[:n]) + "," for _ in range(5))]) + " indeed."


# (rule, keyword arguments, a record the rule keeps, a record it drops)
CASES: list[tuple[str, dict[str, Any], Record, Record]] = [
    ("too_few_words", {}, {"instruction": "Capital of France?", "output": "Paris."}, {"output": "ok"}),
    ("too_many_words", {"max_words": 40},
     {"instruction": "Capital of France?", "output": "The capital of France is Paris."},
     {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER}),
    ("refusal", {},
     {"instruction": "What is a language model?",
      "output": "A language model is a program that predicts the next word of a text from the words before it."},
     {"instruction": "Summarise this article.", "output": "As an AI language model, I do not have opinions."}),
    ("boilerplate", {},
     {"instruction": "What does a tenancy agreement list?",
      "output": "It lists all the rights and duties of the tenant and the landlord."},
     {"instruction": "Write a footer.", "output": "Copyright 2024 Example Inc. All rights reserved."}),
    ("lorem_ipsum", {},
     {"instruction": "What text do designers use as a placeholder?",
      "output": "Designers often use scrambled Latin, which starts with the words lorem and ipsum."},
     {"instruction": "Write a product description.",
      "output": "Lorem ipsum dolor sit amet, consectetur adipiscing elit."}),
    ("javascript", {},
     {"instruction": "How do I reverse an array in JavaScript?",
      "output": "Call `array.reverse()`: it reverses the array in place and returns it."},
     {"instruction": "Summarise the page.", "output": "You need to enable JavaScript to run this app."}),
    ("curly_braces", {"reject_curly_braces": True},
     {"instruction": "Format a string in Python.",
      "output": "Use an f-string:\n\n```python\nprint(f\"{name} is {age}\")\n```\n\nIt fills in both values."},
     {"instruction": "Write a letter to the customer.",
      "output": "Dear {customer_name}, thank you for your order of {product}. It ships on {date}."}),
    ("symbol_char_ratio", {},
     {"instruction": "What is 2 + 2?", "output": "2 + 2 = 4."},
     {"instruction": "Give an example.", "output": "@#$%^&*()!!! ~~~ <<>> {{}} [[]] ;;; ::: ### %%% &&&"}),
    ("long_word", {},
     {"instruction": "Where are the release notes and the checksum?",
      "output": "You can find both of them on the page of the release, and the file is also in the repo. "
                "See https://github.com/example-org/example-project/releases/tag/v1.2.3-release-candidate-2024 "
                "or /var/lib/example-project/release-notes/archive/2024/v1.2.3/CHANGELOG.md; the SHA-256 is "
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, the longest English word is "
                "pneumonoultramicroscopicsilicovolcanoconiosis and the test is "
                "test_the_release_notes_are_published_with_the_checksum_of_every_artifact. If one of them is "
                "not there yet, wait a bit and then try it again, as it can take a few minutes to show up."},
     {"instruction": "Describe the harbour.",
      "output": "The harbour is small, and in the early morning the boats go out to sea one by one. "
                "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB."}),
    ("symbol_word_ratio", {},
     {"instruction": "How do I write a comment in C#?",
      "output": "## Comments\n\nIn C#, a line comment starts with two slashes, and in Python it starts with #."},
     {"instruction": "Caption this photo.",
      "output": "Sunset at the beach with friends #sunset #beach #summer #travel #friends #happy #photo"}),
    ("symbol_word_ratio", {},
     {"instruction": "Continue the story.",
      "output": "She opened the door... and the room was empty, apart from a chair by the window."},
     {"instruction": "Continue.",
      "output": "and then... well... maybe... so... yes... no... fine... ok... sure... right..."}),
    ("stop_words", {},
     {"instruction": "Why do leaves change colour?",
      "output": "In autumn the trees stop making chlorophyll, so the yellow and orange pigments show through."},
     {"instruction": "Report the results.",
      "output": "Quarterly revenue figures exceeded analyst expectations despite persistent supply chain disruptions "
                "affecting European manufacturing plants."}),
    ("mean_word_length", {},
     {"instruction": "Describe the harbour.",
      "output": "The harbour is small, and in the early morning the boats go out to sea one by one."},
     {"instruction": "Say something.",
      "output": "I am so in it as we go up to it and he is at it so we do go on as it is in me."}),
    ("alpha_words", {},
     {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER},
     {"instruction": "List the readings.", "output": NUMBERS_TABLE}),
    ("terminal_punctuation", {},
     {"instruction": "How did the deployment go?",
      "output": "The deployment finished and the service now answers requests on port 8080."},
     {"instruction": "How did the deployment go?",
      "output": "The deployment finished and the service now answers requests on port"}),
    ("terminal_punctuation", {},
     {"instruction": "Suggest a blog post title about remote work.",
      "output": "Working From Anywhere: How Distributed Teams Stay Connected and Productive"},
     {"instruction": "Write a function that adds two numbers.",
      "output": "Here is the function:\n\n```python\ndef add(a: int, b: int) -> int:\n    return a +"}),
    ("lowercase_sentences", {},
     {"instruction": "Is the service up?",
      "output": "The service is running. It answers on port 80, e.g. for HTTP, and the logs are clean."},
     {"instruction": "Is the service up?",
      "output": "The service is running. it answers on port 80. the logs are clean and nothing failed."}),
    ("ellipsis_lines", {},
     {"instruction": "Write a short scene.",
      "output": "He waited by the door...\nThe rain had stopped an hour ago.\nNobody came up the path.\n"
                "At last he went back inside and closed it."},
     {"instruction": "Write a short scene.",
      "output": "The first thing to know about the old harbour town is that...\n"
                "Nobody who lived there in the winter ever talked about the...\n"
                "When the fishing boats came back late in the evening the...\n"
                "The last line of the story is complete and ends properly."}),
    ("bullet_lines", {},
     {"instruction": "List ten fruits.", "output": "\n".join(f"- {w}" for w in TEN_LINES)},
     {"instruction": "List ten things.", "output": "\n".join(f"• {w}" for w in TEN_LINES)}),
    ("duplicate_lines", {},
     {"instruction": "Write a poem.", "output": "\n".join(VERSE[:6])},
     {"instruction": "Write a poem.", "output": "\n".join(["The rain falls on the hill."] * 6 + VERSE[:3])}),
    ("duplicate_line_chars", {},
     {"instruction": "Write a poem.", "output": "\n".join([LONG_ANSWER[:300], *VERSE[:5]])},
     {"instruction": "Write a poem.", "output": "\n".join([LONG_ANSWER[:300], *VERSE[:5], LONG_ANSWER[:300]])}),
    ("duplicate_paragraphs", {},
     {"instruction": "Explain.", "output": "\n\n".join(VERSE[:3])},
     {"instruction": "Explain.", "output": "\n\n".join([VERSE[0], VERSE[1], VERSE[0]])}),
    ("duplicate_paragraph_chars", {},
     {"instruction": "Explain.", "output": "\n\n".join([LONG_ANSWER[:300], *VERSE[:5]])},
     {"instruction": "Explain.", "output": "\n\n".join([LONG_ANSWER[:300], *VERSE[:5], LONG_ANSWER[:300]])}),
    ("line_punctuation", {},
     {"instruction": "Write a scene.", "output": "\n".join(VERSE)},
     {"instruction": "Write a scene.", "output": "\n".join([*TEN_LINES, "The end."])}),
    ("short_lines", {},
     {"instruction": "Write a scene.", "output": "\n".join(VERSE)},
     {"instruction": "Make a to-do list.", "output": "\n".join(SHORT_LINES)}),
    ("char_duplicates", {},
     {"instruction": "Write a scene.", "output": "\n".join(VERSE)},
     {"instruction": "Write a scene.", "output": "\n".join([*VERSE, VERSE[3]])}),
    *[
        (f"top_{n}gram", {},
         {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER},
         {"instruction": "Describe a cat.", "output": " ".join([" ".join(CAT[:n])] * 12) + "."})
        for n in (2, 3, 4)
    ],
    *[
        (f"duplicate_{n}gram", {},
         {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER},
         {"instruction": "Explain.", "output": _ngram_text(n)})
        for n in range(5, 11)
    ],
    ("compression_ratio", {},
     {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER},
     {"instruction": "Describe a cat.", "output": " ".join(["The cat sat on the mat."] * 40)}),
]


def _others(rule: str) -> list[str]:
    return [r for r in RULES if r != rule]


def test_every_rule_has_a_case() -> None:
    assert {rule for rule, *_ in CASES} == set(RULES)


@pytest.mark.parametrize(("rule", "options", "keep", "drop"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_keeps_and_drops(rule: str, options: dict[str, Any], keep: Record, drop: Record) -> None:
    alone = QualityFilter(**options, disabled_rules=_others(rule))
    assert alone.apply(keep).action is Action.KEEP, alone.apply(keep).reason
    assert alone.apply(drop).reason == rule
    every = QualityFilter(**options)
    assert every.apply(keep).action is Action.KEEP, every.apply(keep).reason
    assert every.apply(drop).action is Action.DROP
    off = QualityFilter(**options, disabled_rules=[rule])
    assert off.apply(drop).reason != rule


LONG_RUN = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"  # 53 letters


@pytest.mark.parametrize("text", [
    f"Use the `{LONG_RUN}` constant from the config module, it holds the default key for tests.",
    f"Run it like this:\n\n```\nexport KEY={LONG_RUN}\n```\n\nThen start the service again.",
    "日本語の文章は単語の間に空白を入れずに書くので一つの長い塊に見えますが正常な文章であり落とすべきではありません。",
])
def test_long_word_passes_over_code_and_scripts_without_spaces(text: str) -> None:
    language = "ja" if text.startswith("日") else "en"
    record = {"instruction": "Explain.", "output": text}
    assert QualityFilter(language=language).apply(record).action is Action.KEEP
    assert QualityFilter(language="en").apply({"output": f"The key is {LONG_RUN} today."}).reason == "long_word"


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown quality rule"):
        QualityFilter(disabled_rules=["stopwords"])


def test_rules_of_the_spec_are_the_rules_of_the_filter() -> None:
    assert [r.value for r in api.QualityRule] == list(RULES)


def test_thresholds_can_be_tuned_and_phrases_replaced() -> None:
    refusal = {"instruction": "Summarise.", "output": "As an AI language model, I summarise: the text is short."}
    assert QualityFilter(refusal_phrases=[]).apply(refusal).action is Action.KEEP
    custom = QualityFilter(refusal_phrases=["per my guidelines"])
    assert custom.apply({"output": "Per my guidelines, I will not answer this one."}).reason == "refusal"
    terse = {"instruction": "Report.",
             "output": "Revenue increased, costs decreased, margins remained stable across European regions."}
    assert QualityFilter().apply(terse).reason == "stop_words"
    assert QualityFilter(min_stop_words=None).apply(terse).action is Action.KEEP
    assert QualityFilter(stop_words=["across", "remained"]).apply(terse).action is Action.KEEP


# --------------------------------------------------------------------------------------------
# language
# --------------------------------------------------------------------------------------------

KOREAN_ANSWER = (
    "서울은 한국의 수도이고 인구가 가장 많은 도시입니다. 한강이 도시 한가운데를 흐르며, "
    "조선 시대부터 나라의 중심 역할을 해 왔습니다."
)


def test_korean_particles_count_as_stop_words_at_the_end_of_an_eojeol() -> None:
    ko = QualityFilter(language="ko")
    assert ko.apply({"instruction": "서울에 대해 알려 주세요.", "response": KOREAN_ANSWER}).action is Action.KEEP
    # the same syllables without particles or function words
    bare = "서울 한국 중심 도시 인구 최대 한강 흐름 조선 시대 나라 중심 역할 담당 역사 오랜 전통 문화"
    assert ko.apply({"instruction": "서울에 대해 알려 주세요.", "response": bare}).reason == "stop_words"


def test_korean_eojeol_length_bounds_come_from_real_text() -> None:
    low, high = profile_for("ko").mean_word_length
    for record in REAL["ko"]:
        for text in (instruction_of(record), response_of(record)):
            words = [w for w in split_code(text)[0].split() if w[0].isalpha()]
            if len(words) >= 15:
                assert low < sum(map(len, words)) / len(words) < high


def test_a_translation_in_another_script_or_language_is_not_judged_by_the_jobs_stop_words() -> None:
    en = QualityFilter(language="en")
    to_korean = {"instruction": "Translate the paragraph into Korean.", "response": KOREAN_ANSWER}
    assert en.apply(to_korean).action is Action.KEEP
    to_german = {"instruction": "Translate into German.",
                 "response": "Der Zug nach Berlin fährt um acht Uhr ab, und die Fahrt dauert etwa vier Stunden."}
    assert en.apply(to_german).action is Action.KEEP


def test_languages_without_spaces_skip_the_word_rules() -> None:
    zh = QualityFilter(language="zh")
    text = "光合作用是植物利用光能把水和二氧化碳转化为葡萄糖和氧气的过程。这个过程主要发生在叶片的叶绿体中。"
    assert zh.apply({"instruction": "什么是光合作用？", "response": text}).action is Action.KEEP
    assert zh.min_stop_words is None
    assert QualityFilter(language="tlh").min_stop_words is None  # no list: the rule is skipped


def test_stop_word_lists() -> None:
    assert {"en", "ko", "de", "fr", "es", "it", "pt", "nl", "ru"} <= set(STOP_WORD_LANGUAGES)
    assert {"the", "be", "to", "of", "and", "that", "have", "with"} <= profile_for("en-US").stop_words
    assert {"은", "는", "을", "를", "에서"} <= set(profile_for("ko").stop_suffixes)


@pytest.mark.parametrize(
    ("line", "ends"),
    [("It works.", True), ('He said "yes."', True), ("Done! 🎉", True), ("**Note:** restart it.**", True),
     ("(see above)", False), ("and then the", False), ("to be continued...", False), ("감사합니다", True),
     ("Run `make test`", False), ("정말요?", True)],
)
def test_sentence_ends(line: str, ends: bool) -> None:
    assert ends_sentence(line) is ends


def test_code_and_json_are_not_prose() -> None:
    prose, ends_with_code, open_fence = split_code("Run it:\n```bash\nmake test\n```")
    assert (prose, ends_with_code, open_fence) == ("Run it:", True, False)
    assert split_code('{"name": "Maria", "age": 34}') == ("", True, False)
    assert split_code("```python\nprint(1)")[2] is True


# --------------------------------------------------------------------------------------------
# from the spec
# --------------------------------------------------------------------------------------------


def _spec(task_language: str, quality: dict[str, Any]) -> api.DataFoundryJobSpec:
    return api.DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "language": task_language, "seeds": {"inline": [{"instruction": "q"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/model"},
        "filters": [{"type": "quality", **quality}],
        "output": {"uri": "file:///out"},
    })


def test_the_spec_builds_the_filter_with_the_jobs_language_and_options() -> None:
    spec = _spec("ko-KR", {"disabledRules": ["terminal_punctuation"], "maxNgramRepetitionRatio": 0.3,
                           "maxDuplicateNgramRatio": 0.2, "rejectRefusals": False, "minStopWords": 0})
    assert spec.filters is not None
    built = build_one(spec.filters[0], spec, {})
    assert isinstance(built, QualityFilter)
    assert built.profile.language == "ko"
    assert {"terminal_punctuation", "refusal"} <= built.disabled_rules
    assert built.min_stop_words is None
    assert built.top_ngram == pytest.approx({2: 0.32, 3: 0.3, 4: 0.28})
    assert built.dup_ngram == pytest.approx({5: 0.2, 6: 0.19, 7: 0.18, 8: 0.17, 9: 0.16, 10: 0.15})
    assert not built.reject_curly_braces
    overridden = _spec("ko", {"language": "de", "rejectCurlyBraces": True})
    assert overridden.filters is not None
    german = build_one(overridden.filters[0], overridden, {})
    assert isinstance(german, QualityFilter)
    assert german.profile.language == "de" and german.reject_curly_braces


def test_chain_funnel_names_the_reasons() -> None:
    degenerate = [drop for _, options, _, drop in CASES if not options]
    chain = FilterChain([QualityFilter()])
    kept = list(chain.run([*NORMAL_RECORDS, *degenerate]))
    assert kept == NORMAL_RECORDS
    assert sum(chain.funnel.dropped_by["quality"].values()) == len(degenerate)

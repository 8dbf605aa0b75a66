from __future__ import annotations

import pytest
from filter_corpus import NORMAL_RECORDS, random_text

from datafoundry.filters import Action, FilterChain, QualityFilter

LONG_ANSWER = (
    "Photosynthesis is the process by which green plants, algae and some bacteria turn light into "
    "chemical energy. Inside the chloroplasts, chlorophyll absorbs mostly red and blue light. That energy "
    "splits water molecules, releasing oxygen as a by-product, and produces ATP and NADPH. In the Calvin "
    "cycle, the plant then uses ATP and NADPH to fix carbon dioxide from the air into three-carbon sugars, "
    "which it later assembles into glucose, starch and cellulose. The rate of photosynthesis depends on "
    "light intensity, the concentration of carbon dioxide and temperature; when any of them is low, it "
    "limits the whole process. Nearly all life on Earth depends on it, directly or indirectly."
)


@pytest.mark.parametrize("record", [*NORMAL_RECORDS, {"instruction": "Explain photosynthesis.", "output": LONG_ANSWER}])
def test_normal_instruction_records_are_kept(record: dict[str, object]) -> None:
    result = QualityFilter().apply(record)
    assert result.action is Action.KEEP, result.reason


def test_a_response_that_quotes_its_instruction_is_kept() -> None:
    # repetition rules run per field: a rewrite task repeats most of its input by design
    record = {"instruction": "Rewrite in the passive voice: " + LONG_ANSWER, "output": LONG_ANSWER}
    assert QualityFilter().apply(record).action is Action.KEEP


DEGENERATE: list[tuple[str, dict[str, object]]] = [
    (
        "duplicate_lines",
        {
            "instruction": "Write a poem.",
            "output": "\n".join(
                ["The rain falls on the hill."] * 6
                + [
                    "The sun rises over the sea.",
                    "A bird sings in the tall tree.",
                    "Night comes and all is still.",
                ]
            ),
        },
    ),
    ("compression_ratio", {"instruction": "Describe a cat.", "output": " ".join(["word"] * 200)}),
    (
        "top_2gram",
        {
            "instruction": "Describe a cat.",
            "output": " ".join(["very good"] * 12 + [random_text(40, seed=3)]),
        },
    ),
    (
        "duplicate_5gram",
        {
            "instruction": "Tell me a story.",
            "output": " ".join([random_text(12, seed=1)] * 3 + [random_text(45, seed=2)]),
        },
    ),
    (
        "symbol_ratio",
        {"instruction": "Give an example.", "output": "@#$%^&*()!!! ~~~ <<>> {{}} [[]] ;;; ::: ### %%% &&&"},
    ),
    (
        "ellipsis_ratio",
        {"instruction": "Continue.", "output": "and then... well... maybe... so... yes... no..."},
    ),
    (
        "refusal",
        {
            "instruction": "Summarise this article.",
            "output": "As an AI language model, I do not have opinions.",
        },
    ),
    (
        "refusal",
        {
            "instruction": "Write malware.",
            "output": "I\u2019m sorry, but I can\u2019t help with that request.",
        },
    ),
    (
        "refusal",
        {
            "messages": [
                {"role": "user", "content": "Plan a heist."},
                {"role": "assistant", "content": "I cannot help with that."},
            ]
        },
    ),
    (
        "boilerplate",
        {
            "instruction": "Write a product description.",
            "output": "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        },
    ),
    ("too_few_words", {"instruction": "", "output": "ok"}),
    ("mean_word_length", {"text": "a b c d e f g h i j k l m n o p q r s t"}),
    (
        "ellipsis_lines",
        {
            "output": "The first thing to know about the old harbour town is that...\n"
            "Nobody who lived there in the winter ever talked about the...\n"
            "When the fishing boats came back late in the evening the...\n"
            "The last line of the story is complete and ends properly."
        },
    ),
]


@pytest.mark.parametrize(("reason", "record"), DEGENERATE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(DEGENERATE)])
def test_degenerate_records_are_dropped_with_the_rule_that_caught_them(reason: str, record: dict[str, object]) -> None:
    result = QualityFilter().apply(record)
    assert result.action is Action.DROP
    assert result.reason == reason


def test_rules_can_be_switched_off_and_phrases_replaced() -> None:
    refusal = {
        "instruction": "Summarise.",
        "output": "As an AI language model, I summarise: the text is short.",
    }
    assert QualityFilter(refusal_phrases=[]).apply(refusal).action is Action.KEEP
    custom = QualityFilter(refusal_phrases=["per my guidelines"])
    assert custom.apply({"output": "Per my guidelines, I will not answer this one."}).reason == "refusal"
    symbols = {"output": "@#$%^&*()!!! ~~~ <<>> {{}} [[]] ;;; ::: ### %%% &&& word word word"}
    assert QualityFilter(max_symbol_ratio=None, min_words=1).apply(symbols).action is Action.KEEP


def test_chain_funnel_names_the_reasons() -> None:
    chain = FilterChain([QualityFilter()])
    kept = list(chain.run([*NORMAL_RECORDS, *(record for _, record in DEGENERATE)]))
    assert kept == NORMAL_RECORDS
    assert sum(chain.funnel.dropped_by["quality"].values()) == len(DEGENERATE)
    assert chain.funnel.dropped_by["quality"]["refusal"] == 3

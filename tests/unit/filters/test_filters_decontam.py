from __future__ import annotations

import pytest

from datafoundry.filters import Action, DecontaminationFilter, FilterChain

GSM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
MMLU = (
    "Which of the following is the body cavity that contains the pituitary gland? "
    "A. Abdominal B. Cranial C. Pleural D. Spinal"
)
HUMANEVAL = (
    "Check if in given list of numbers, are any two numbers closer to each other than given threshold. "
    "Return True if so and False otherwise."
)
EVAL_ITEMS = [
    ("gsm8k", "test-0001", GSM),
    ("mmlu", "anatomy-0007", MMLU),
    ("humaneval", "HumanEval/0", HUMANEVAL),
    ("mmlu", "tiny-1", "Too short to index."),
]


def test_copied_eval_items_are_removed_and_reported() -> None:
    f = DecontaminationFilter(eval_items=EVAL_ITEMS)
    assert f.indexed_items == 3
    assert f.report.skipped_short_items == 1
    records = [
        {"id": 0, "instruction": "Solve: " + GSM.upper(), "output": "Natalia sold 48 + 24 = 72 clips."},
        {
            "id": 1,
            "instruction": "Explain how the pituitary gland regulates growth.",
            "output": "It releases hormones.",
        },
        {
            "id": 2,
            "messages": [
                {"role": "user", "content": "Question: " + MMLU},
                {"role": "assistant", "content": "B"},
            ],
        },
        {
            "id": 3,
            "instruction": "Write a function.",
            "output": "# " + HUMANEVAL.replace(" ", "  ") + "\ndef f(): ...",
        },
        {
            "id": 4,
            "instruction": "How many clips did Natalia sell in April?",
            "output": "48.",
        },  # < 13 shared words
    ]
    chain = FilterChain([f])
    assert [r["id"] for r in chain.run(records)] == [1, 4]
    assert chain.funnel.dropped_by["decontamination"] == {
        "contaminated:gsm8k": 1,
        "contaminated:mmlu": 1,
        "contaminated:humaneval": 1,
    }
    assert f.report.to_dict() == {
        "recordsByBenchmark": {"gsm8k": 1, "mmlu": 1, "humaneval": 1},
        "items": {"gsm8k": ["test-0001"], "humaneval": ["HumanEval/0"], "mmlu": ["anatomy-0007"]},
        "skippedShortItems": 1,
    }
    assert dict(f.stats())["items:mmlu"] == 1


def test_ngram_size_and_fraction_are_configurable() -> None:
    # 13 consecutive words of the GSM item inside a longer original text
    excerpt = " ".join(GSM.split()[:13])
    record = {"text": "A long and original introduction about school fairs and budgets. " + excerpt}
    assert DecontaminationFilter(eval_items=EVAL_ITEMS).apply(record).action is Action.DROP
    assert DecontaminationFilter(eval_items=EVAL_ITEMS, ngram=14).apply(record).action is Action.KEEP
    # one shared 13-gram is under a 50% share of the record's n-grams
    assert DecontaminationFilter(eval_items=EVAL_ITEMS, min_fraction=0.5).apply(record).action is Action.KEEP
    assert DecontaminationFilter(eval_items=EVAL_ITEMS, min_matches=2).apply(record).action is Action.KEEP
    short = DecontaminationFilter(eval_items=EVAL_ITEMS, ngram=3)
    assert short.indexed_items == 4
    assert short.apply({"text": "this is too short to index."}).reason == "contaminated:mmlu"


def test_an_ngram_shared_by_two_benchmarks_reports_both_items() -> None:
    shared = "the quick brown fox jumps over the lazy dog near the river bank today"
    f = DecontaminationFilter(eval_items=[("a", "a1", shared + " alpha"), ("b", "b7", "beta " + shared)])
    assert f.apply({"text": shared}).reason == "contaminated:a"  # tie: alphabetical
    assert f.report.items == {"a": {"a1"}, "b": {"b7"}}


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="ngram"):
        DecontaminationFilter(eval_items=[], ngram=0)

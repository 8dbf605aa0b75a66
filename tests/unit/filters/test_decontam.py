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
    assert f.indexed_items == 4  # the 4-word item too: it is matched by equality with a whole field
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
    one = {"items": 1, "indexed": 1, "shortItems": 0, "exactOnlyItems": 0, "emptyItems": 0}
    assert f.report.to_dict() == {
        "ngram": 13,
        "minPhraseWords": 5,
        "recordsByBenchmark": {"gsm8k": 1, "mmlu": 1, "humaneval": 1},
        "items": {"gsm8k": ["test-0001"], "humaneval": ["HumanEval/0"], "mmlu": ["anatomy-0007"]},
        "evalSets": {
            "gsm8k": one,
            "humaneval": one,
            "mmlu": {"items": 2, "indexed": 2, "shortItems": 1, "exactOnlyItems": 1, "emptyItems": 0},
        },
    }
    # per shard, summed over shards in the manifest: records add up, matched item ids would not
    assert dict(f.stats()) == {"records:gsm8k": 1, "records:mmlu": 1, "records:humaneval": 1}


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
    with pytest.raises(ValueError, match="min_phrase_words"):
        DecontaminationFilter(eval_items=[], min_phrase_words=0)


# --------------------------------------------------------------------------------------------
# items shorter than the n-gram size: matched whole, never skipped
# --------------------------------------------------------------------------------------------

SHORT_ITEMS = [
    ("trivia", "t1", "Who painted the Mona Lisa?"),  # 5 words: found as a contiguous word sequence
    ("trivia", "t2", "Who wrote Hamlet?"),  # 3 words: only a whole field (or record) equal to it
    ("runbook", "q1", "What does the on-call engineer check first?\nthe dashboard"),  # question + answer: 10
    ("runbook", "q2", "?!"),  # no words at all: cannot match, counted
    ("gsm8k", "test-0001", GSM),  # an n-gram item next to them
]


def test_a_short_item_copied_verbatim_is_dropped_and_one_not_contained_is_kept() -> None:
    f = DecontaminationFilter(eval_items=SHORT_ITEMS)
    assert f.indexed_items == 4
    dropped = [
        {"instruction": "Quiz time! Who painted the Mona Lisa? Answer in one line.", "output": "Leonardo."},
        {"text": "WHO PAINTED THE MONA-LISA"},  # case and punctuation are normalised away
        {"messages": [{"role": "user", "content": "Who painted the"}, {"role": "assistant", "content": "Mona Lisa?"}]},
    ]
    kept = [
        {"instruction": "Who painted the famous Mona Lisa?", "output": "Leonardo da Vinci."},  # not contiguous
        {"instruction": "Who painted the Mona Lisas on this wall?", "output": "Students."},  # whole words only
        {"instruction": "The Mona Lisa hangs in the Louvre.", "output": "Who painted it?"},
    ]
    for record in dropped:
        assert f.apply(record).reason == "contaminated:trivia", record
    for record in kept:
        assert f.apply(record).action is Action.KEEP, record
    assert f.report.items == {"trivia": {"t1"}}
    assert f.report.records_by_benchmark == {"trivia": 3}


def test_short_question_and_answer_items_match_a_record_copying_both() -> None:
    f = DecontaminationFilter(eval_items=SHORT_ITEMS)
    question = "What does the on-call engineer check first?"
    copied = [
        {"instruction": question, "output": "The dashboard."},
        # document QA keeps the source chunk as `context`, which sits between question and answer
        {"question": question, "context": "Runbook 3: check the logs, then restart.", "answer": "The dashboard."},
        # each part of the item (question, answer) anywhere: the question has 5+ words
        {"instruction": "Check the dashboard.", "output": question.upper()},
    ]
    for record in copied:
        assert f.apply(record).reason == "contaminated:runbook", record
    # the question with another answer, or the answer with another question, is not the item
    assert f.apply({"instruction": question, "output": "The logs."}).action is Action.KEEP
    assert f.apply({"instruction": "What does on-call check?", "output": "The dashboard."}).action is Action.KEEP


def test_tiny_items_of_several_fields_match_fields_equal_to_each() -> None:
    f = DecontaminationFilter(eval_items=[("trivia", "t9", "Who wrote Hamlet?\nShakespeare")])  # 4 words
    assert f.apply({"text": "Who wrote Hamlet? Shakespeare"}).action is Action.DROP  # the whole record
    assert f.apply({"question": "Who wrote Hamlet?", "context": "Plays.", "answer": "Shakespeare!"}).action is (
        Action.DROP
    )
    assert f.apply({"question": "Who wrote Hamlet?", "answer": "William Shakespeare."}).action is Action.KEEP
    assert f.apply({"question": "Who wrote Macbeth?", "answer": "Shakespeare"}).action is Action.KEEP


def test_tiny_items_match_only_a_whole_field_or_record() -> None:
    f = DecontaminationFilter(eval_items=[*SHORT_ITEMS, ("boolq", "b1", "Yes")])
    assert f.apply({"instruction": "Who wrote Hamlet?", "output": "Shakespeare, around 1600."}).reason == (
        "contaminated:trivia"
    )
    assert f.apply({"messages": [{"role": "user", "content": "who wrote  HAMLET"}]}).reason == "contaminated:trivia"
    assert f.apply({"instruction": "Tell me who wrote Hamlet?", "output": "Shakespeare."}).action is Action.KEEP
    # a one-word item does not take every record using the word with it: only a field that is just that word
    assert f.apply({"instruction": "Is the sky blue?", "output": "Yes, on a clear day. Yes."}).action is Action.KEEP
    assert f.apply({"instruction": "Is the sky blue?", "output": "Yes."}).reason == "contaminated:boolq"
    assert f.report.items == {"trivia": {"t2"}, "boolq": {"b1"}}


def test_short_item_counts_are_reported_per_eval_set() -> None:
    f = DecontaminationFilter(eval_items=SHORT_ITEMS)
    chain = FilterChain([f])
    records = [
        {"id": 0, "text": "Who painted the Mona Lisa?"},
        {"id": 1, "text": "Nothing to see here, just an original sentence."},
        {"id": 2, "instruction": "What does the on-call engineer check first?", "output": "The dashboard."},
        {"id": 3, "text": "Solve: " + GSM},
    ]
    assert [r["id"] for r in chain.run(records)] == [1]
    report = f.report.to_dict()
    assert report["evalSets"] == {
        "gsm8k": {"items": 1, "indexed": 1, "shortItems": 0, "exactOnlyItems": 0, "emptyItems": 0},
        "runbook": {"items": 2, "indexed": 1, "shortItems": 1, "exactOnlyItems": 0, "emptyItems": 1},
        "trivia": {"items": 2, "indexed": 2, "shortItems": 2, "exactOnlyItems": 1, "emptyItems": 0},
    }
    assert report["items"] == {"gsm8k": ["test-0001"], "runbook": ["q1"], "trivia": ["t1"]}
    assert report["recordsByBenchmark"] == {"trivia": 1, "runbook": 1, "gsm8k": 1}
    assert chain.funnel.dropped_by["decontamination"] == {
        "contaminated:trivia": 1,
        "contaminated:runbook": 1,
        "contaminated:gsm8k": 1,
    }


def test_short_items_ignore_the_ngram_thresholds_and_follow_the_floor() -> None:
    record = {"text": "A long and original introduction about painting and museums. Who painted the Mona Lisa?"}
    assert DecontaminationFilter(eval_items=SHORT_ITEMS, min_matches=3, min_fraction=0.9).apply(record).reason == (
        "contaminated:trivia"
    )
    # with a floor of 6 words, the 5-word item is matched only by equality with a whole field
    strict = DecontaminationFilter(eval_items=SHORT_ITEMS, min_phrase_words=6)
    assert strict.apply(record).action is Action.KEEP
    assert strict.apply({"text": "who painted the mona lisa"}).reason == "contaminated:trivia"
    assert strict.report.eval_sets["trivia"].exact_only_items == 2

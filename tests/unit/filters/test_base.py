from __future__ import annotations

import pytest

from datafoundry.filters import (
    KEEP,
    Filter,
    FilterChain,
    FilterResult,
    Funnel,
    LengthFilter,
    Record,
    text_of,
    texts_of,
)


class _Upper(Filter):
    type = "upper"

    def apply(self, record: Record) -> FilterResult:
        return FilterResult.modify({**record, "text": str(record["text"]).upper()})


class _Collect(Filter):
    type = "collect"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Record] = []

    def apply(self, record: Record) -> FilterResult:
        return KEEP

    def observe(self, record: Record) -> None:
        self.seen.append(record)


def test_text_of_reads_known_fields_and_chat_messages() -> None:
    record = {
        "instruction": "Say hi.",
        "output": "Hi!",
        "id": "ignored",
        "score": 3,
        "messages": [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello."}],
        "conversations": [{"from": "human", "value": "Yo"}],
    }
    assert texts_of(record) == ["Say hi.", "Hi!", "Hello?", "Hello.", "Yo"]
    assert text_of(record) == "Say hi.\nHi!\nHello?\nHello.\nYo"
    assert text_of(record, ["output", "id"]) == "Hi!\nignored"
    assert text_of({"chosen": [{"role": "assistant", "content": "A"}], "rejected": "B"}) == "A\nB"
    assert text_of({"unknown": "x"}) == ""


def test_chain_counts_drops_per_filter_and_reason_and_modifications() -> None:
    collect = _Collect()
    chain = FilterChain([LengthFilter(min_chars=3, max_chars=10), _Upper(), collect])
    records = [{"text": "ab"}, {"text": "hello"}, {"text": "x" * 11}, {"text": "world"}, {"text": ""}]
    out = list(chain.run(records))
    assert out == [{"text": "HELLO"}, {"text": "WORLD"}]
    assert collect.seen == out  # observers see the accepted records as they leave the chain
    assert records[1] == {"text": "hello"}  # inputs are not mutated
    f = chain.funnel
    assert (f.seen, f.kept, f.dropped) == (5, 2, 3)
    assert f.dropped_by["length"] == {"too_few_chars": 2, "too_many_chars": 1}
    assert f.modified_by == {"length": 0, "upper": 2, "collect": 0}


def test_first_drop_wins_and_later_filters_do_not_run() -> None:
    collect = _Collect()
    chain = FilterChain([LengthFilter(min_chars=100), _Upper(), collect])
    assert chain.apply({"text": "short"}) is None
    assert chain.funnel.modified_by["upper"] == 0
    assert collect.seen == []


def test_chain_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match="length"):
        FilterChain([LengthFilter(min_chars=1), LengthFilter(max_chars=5)])
    FilterChain([LengthFilter(min_chars=1), LengthFilter(max_chars=5, name="length-max")])


def test_funnel_round_trip() -> None:
    a = Funnel(seen=5, kept=2, dropped_by={"pii": {"email": 3, "phone": 0}}, modified_by={"pii": 1})
    assert Funnel.from_dict(a.to_dict()) == a
    assert a.dropped_total("pii") == 3


def test_length_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="greater than"):
        LengthFilter(min_chars=5, max_chars=1)


def test_whole_number_parameters_below_one_are_refused_by_name() -> None:
    from datafoundry.filters import DecontaminationFilter, MinHasher
    from datafoundry.filters.base import require_positive

    require_positive(a=1, b=5)
    with pytest.raises(ValueError, match=r"^b must be >= 1, got 0$"):
        require_positive(a=1, b=0, c=-1)
    with pytest.raises(ValueError, match=r"^num_perm must be >= 1, got 0$"):
        MinHasher(num_perm=0)
    with pytest.raises(ValueError, match=r"^min_phrase_words must be >= 1, got 0$"):
        DecontaminationFilter(eval_items=[], min_phrase_words=0)

"""Pure pieces of the generator: mixing, chunking, shapes and parsing, prompts, backoff, ids."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines.retry import Backoff, parse_retry_after, retryable_status
from datafoundry.pipeline.contract import BadInput
from datafoundry.records.read import strict_jsonl
from datafoundry.strategies import shapes
from datafoundry.strategies.base import DocChunk, Inputs, Seed
from datafoundry.strategies.chunking import chunk_text
from datafoundry.strategies.inputs import check_schema
from datafoundry.strategies.mixing import Schedule
from datafoundry.strategies.registry import StrategyMix
from datafoundry.workers.generate import ShardWork, record_id


def test_schedule_exact_proportions_and_ordinals() -> None:
    s = Schedule([1, 3, 2])
    picks = [s.pick(i) for i in range(60)]
    assert Counter(w for w, _ in picks) == {0: 10, 1: 30, 2: 20}
    for item in range(3):
        assert [o for w, o in picks if w == item] == list(range(Counter(w for w, _ in picks)[item]))
    # spread evenly: the heavy item never runs more than twice in a row
    seq = [w for w, _ in picks]
    assert all(seq[i : i + 3] != [1, 1, 1] for i in range(len(seq) - 2))


def test_schedule_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        Schedule([0, 0])


def test_chunk_text_overlap_and_bounds() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    chunks = list(chunk_text(text, 200, 40))
    assert all(0 < len(c) <= 200 for c in chunks)
    assert chunks[0].startswith("word0 ") and chunks[-1].endswith("word399")
    for a, b in itertools.pairwise(chunks):
        assert a[-20:].split()[-1] in b  # consecutive chunks overlap
    assert list(chunk_text("   ", 100, 10)) == []


def test_parse_json_cleans_control_characters_and_surrogates() -> None:
    value, failure = shapes.parse_json('{"a": "x\x1by\ud800z", "b": "line\\nnext"}')
    assert failure is None
    assert value == {"a": "xyz", "b": "line\nnext"}
    assert shapes.parse_json("")[1] == "empty"
    assert shapes.parse_json('{"a": "unterminated')[1] == "invalid_json"


def test_instruction_shape_records_and_failures() -> None:
    shape = shapes.instruction_shape(50)
    assert shape.schema["properties"]["response"]["maxLength"] == 50
    record = {"instruction": "q", "response": "a"}
    assert shape.to_record({**record, "x": 1}) == (record, None)
    assert shape.to_record({"instruction": "q"})[1] == "missing_field"
    assert shape.to_record({"instruction": "q", "response": "  "})[1] == "empty_field"
    assert shape.to_record({"instruction": "q", "response": "I'm sorry, I can't help with that."})[1] == "refusal"
    assert shape.to_record([1])[1] == "not_object"


def test_dialogue_and_classification_shapes() -> None:
    d = shapes.dialogue_shape(30, 3)
    rec, _ = d.to_record({"turns": [{"user": "hi", "assistant": "hello"}, {"user": "and?", "assistant": "done"}]})
    assert rec == {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                                {"role": "user", "content": "and?"}, {"role": "assistant", "content": "done"}]}
    assert d.schema["properties"]["turns"]["maxItems"] == 3
    c = shapes.classification_shape(30, [("bug", None), ("question", "asks")])
    assert c.to_record({"text": "t", "label": "bug"})[0] == {"text": "t", "label": "bug"}
    assert c.to_record({"text": "t", "label": "other"})[1] == "unknown_label"


def test_custom_shape_validates_against_output_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "string", "enum": ["a"]}}, "required": ["n"]}
    shape = shapes.custom_shape(schema)
    assert shape.to_record({"n": "a"}) == ({"n": "a"}, None)
    assert shape.to_record({"n": "b"})[1] == "schema"


def test_check_schema_names_the_place() -> None:
    check_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    with pytest.raises(BadInput, match=r"task.outputSchema at properties/a/type"):
        check_schema({"type": "object", "properties": {"a": {"type": "strnig"}}})
    with pytest.raises(BadInput, match="must be 'object'"):
        check_schema({"type": "array"})


def test_jsonl_errors_name_object_and_line() -> None:
    data = b'{"a": 1}\n\n{"b": \n'
    with pytest.raises(BadInput, match=r"seeds s3://b/k line 3: not valid JSON"):
        list(strict_jsonl(data, "seeds", "s3://b/k"))
    with pytest.raises(BadInput, match=r"line 2: not UTF-8"):
        list(strict_jsonl(b'{"a": 1}\n\xff\n', "seeds", "s3://b/k"))


def _spec(**task: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"type": "instruction", "domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"},
                                                                              {"instruction": "c", "response": "d"}]},
                 "documents": {"uri": "file:///docs"}, "taxonomy": [{"name": "t1", "subtopics": ["x", "y"]}], **task},
        "target": {"records": 10},
        "generator": {"model": "m", "strategies": [{"name": n} for n in (
            "selfInstruct", "evolInstruct", "persona", "documentQA", "taxonomy")]},
        "output": {"uri": "file:///out"},
        "seed": 3,
    })


INPUTS = Inputs(seeds=(Seed("s0", {"instruction": "a", "response": "b"}), Seed("s1", {"instruction": "c"})),
                chunks=(DocChunk("d#0", "passage zero"), DocChunk("d#1", "passage one")))


def test_prompts_are_deterministic_per_round_and_position() -> None:
    mix = StrategyMix(_spec(), INPUTS)
    again = StrategyMix(_spec(), INPUTS)
    for pos in range(20):
        assert mix.prompt(0, pos) == again.prompt(0, pos)
        assert mix.sampling_seed(0, pos) == again.sampling_seed(0, pos)
    assert len({mix.sampling_seed(0, p) for p in range(1000)}) == 1000
    assert mix.sampling_seed(0, 5) != mix.sampling_seed(1, 5)
    names = [mix.prompt(0, p).strategy for p in range(10)]
    assert Counter(names) == {n: 2 for n in ("selfInstruct", "evolInstruct", "persona", "documentQA", "taxonomy")}


def test_every_strategy_builds_a_prompt_and_parses_its_answer() -> None:
    mix = StrategyMix(_spec(), INPUTS)
    for pos in range(5):
        prompt = mix.prompt(0, pos)
        assert prompt.messages[0]["role"] == "system"
        props = prompt.schema["properties"]
        strategy = mix.strategy(prompt.strategy)
        # Instruction and QA records are asked, then answered: the first call writes only the question,
        # in plain text, and a second call answers it.
        assert prompt.answer_field in ("response", "answer") and prompt.answer_field not in props
        assert "one question" in prompt.messages[0]["content"] and prompt.max_tokens == 128
        parsed = strategy.parse(prompt, 'Question: "How do I drain a node safely?"\n\nAnswer: ...', "stop")
        assert parsed.record is not None, (prompt.strategy, parsed)
        assert parsed.record[next(iter(props))] == "How do I drain a node safely?"
        answer_turns = strategy.answer_messages(prompt, "How do I drain a node safely?")
        assert answer_turns[1] == {"role": "user", "content": "How do I drain a node safely?"}
        if prompt.strategy == "documentQA":
            assert parsed.record["context"] in ("passage zero", "passage one")
            assert set(props) == {"question"} and prompt.answer_field == "answer"
            assert parsed.record["context"] in answer_turns[0]["content"]
        cut = strategy.parse(prompt, "How do I drain a", "length")  # the truncated screen judges it
        assert cut.record is not None and cut.record[next(iter(props))] == "How do I drain a"
        assert strategy.parse(prompt, "  \n", "stop").failure == "empty"


def test_single_call_shapes_parse_json() -> None:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"type": "dialogue", "domain": "ops"}, "target": {"records": 10},
        "generator": {"model": "m"}, "output": {"uri": "file:///out"}})
    mix = StrategyMix(spec, INPUTS)
    prompt = mix.prompt(0, 0)
    assert prompt.strategy == "multiTurn"
    assert prompt.answer_field is None and "JSON" in prompt.messages[0]["content"]
    answer = json.dumps({"turns": [{"user": "How?", "assistant": "Like this."}] * 2})
    assert mix.strategy(prompt.strategy).parse(prompt, answer, "stop").record is not None
    assert mix.strategy(prompt.strategy).parse(prompt, answer[:-3], "length").failure == "truncated"


def test_output_schema_replaces_the_shape() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 5}}, "required": ["title"]}
    mix = StrategyMix(_spec(outputSchema=schema), INPUTS)
    prompt = mix.prompt(0, 0)
    assert prompt.schema == schema
    assert mix.strategy(prompt.strategy).parse(prompt, '{"title": "ok"}', "stop").record == {"title": "ok"}
    assert mix.strategy(prompt.strategy).parse(prompt, '{"title": "too long"}', "stop").failure == "schema"


def test_shard_work_and_ids() -> None:
    w = ShardWork(records=10, batch_size=4, shard=1, shards=3)
    assert w.chunks == 3 and list(w.indices(2)) == [8, 9]
    assert [w.position(i) for i in range(3)] == [1, 4, 7]
    assert record_id("h", 0, 5) == record_id("h", 0, 5) != record_id("h", 1, 5)


def test_backoff() -> None:
    b = Backoff(base=0.5, cap=4)
    rng = random.Random(1)
    assert all(0 <= b.delay(k, rng) <= min(4, 0.5 * 2**k) for k in range(10) for _ in range(20))
    assert b.delay(3, rng, retry_after=2.0) == 2.0
    assert b.delay(3, rng, retry_after=100) == 4
    assert parse_retry_after("1.5") == 1.5 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retryable_status(429) and retryable_status(503) and not retryable_status(400)

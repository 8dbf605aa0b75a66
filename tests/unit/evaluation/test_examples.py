from __future__ import annotations

from typing import Any

import pytest

from datafoundry.evaluation.examples import Example, example


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize(("record", "expected"), [
    ({"instruction": "Name a colour.", "response": "Blue."}, Example((user("Name a colour."),), "Blue.")),
    ({"instruction": "Translate.", "input": "Hallo", "output": "Hello"},
     Example((user("Translate.\n\nHallo"),), "Hello")),
    ({"question": "Capital of France?", "answer": "Paris."}, Example((user("Capital of France?"),), "Paris.")),
    # documentQA keeps the passage it asked from
    ({"context": "Paris is in France.", "question": "Where is Paris?", "answer": "In France."},
     Example((user("Paris is in France.\n\nWhere is Paris?"),), "In France.")),
    # a preference pair teaches its chosen answer
    ({"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."}, Example((user("Say hi."),), "Hi!")),
    ({"prompt": "Count to 3.", "completion": "1 2 3"}, Example((user("Count to 3."),), "1 2 3")),
    ({"text": "Great product!", "label": "positive"}, Example((user("Great product!"),), "positive")),
    ({"text": "Plain prose from the input."}, Example((), "Plain prose from the input.")),
    ({"system": "Be brief.", "instruction": "Name a colour.", "response": "Blue."},
     Example(({"role": "system", "content": "Be brief."}, user("Name a colour.")), "Blue.")),
])
def test_flat_shapes(record: dict[str, Any], expected: Example) -> None:
    assert example(record) == expected


def test_dialogue_answer_is_the_last_assistant_turn() -> None:
    messages = [user("Hi"), assistant("Hello!"), user("How are you?"), assistant("Fine."), user("Bye")]
    assert example({"messages": messages}) == Example(tuple(messages[:3]), "Fine.")


def test_sharegpt_conversations() -> None:
    turns = [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey"}]
    assert example({"conversations": turns}) == Example(
        ({"role": "system", "content": "Be kind."}, user("Hi")), "Hey")


def test_metadata_and_null_columns_are_ignored() -> None:
    plain = {"instruction": "Name a colour.", "response": "Blue."}
    # publish tags the source; the generator writes id and meta; Parquet fills missing columns with null
    tagged = {"id": "x-1", "meta": {"strategy": "selfInstruct"}, "_source": "generated", "_prompt": "ignored",
              "messages": None, "prompt": None, "chosen": None, "text": None, **plain}
    assert example(tagged) == example(plain)
    assert example({"_text": "metadata only", "id": "x"}) is None


@pytest.mark.parametrize("record", [
    {},
    {"id": "x", "meta": {}},
    {"instruction": "Name a colour.", "response": "   "},  # an empty answer
    {"response": "an answer to nothing"},
    {"text": ""},
    {"text": 42},
    {"messages": [user("Hi")]},  # no assistant turn
    {"messages": [user("Hi"), assistant("")]},
    {"messages": [user("Hi"), "not a turn", assistant("Hey")]},
    {"messages": [{"role": "tool", "content": "{}"}, assistant("Hey")]},
    {"messages": []},
])
def test_unusable_records(record: dict[str, Any]) -> None:
    assert example(record) is None

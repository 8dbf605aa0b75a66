from __future__ import annotations

import json

import pytest

from datafoundry.filters import Action, SchemaFilter

SCHEMA = {
    "type": "object",
    "required": ["label", "confidence"],
    "properties": {
        "label": {"enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}


def test_schema_keeps_valid_and_names_the_failing_keyword() -> None:
    f = SchemaFilter(schema=SCHEMA)
    assert f.apply({"label": "positive", "confidence": 0.9}).action is Action.KEEP
    assert f.apply({"label": "positive"}).reason == "required"
    assert f.apply({"label": "happy", "confidence": 0.5}).reason == "enum"
    assert f.apply({"label": "neutral", "confidence": "high"}).reason == "type"
    assert f.apply({"label": "neutral", "confidence": 1.5}).reason == "maximum"
    assert f.apply({"label": "neutral", "confidence": 0.1, "x": 1}).reason == "additionalProperties"


def test_schema_on_a_field_holding_json_text() -> None:
    f = SchemaFilter(schema=SCHEMA, field="output")
    assert f.apply({"output": json.dumps({"label": "negative", "confidence": 0.2})}).action is Action.KEEP
    assert f.apply({"output": {"label": "negative", "confidence": 0.2}}).action is Action.KEEP
    assert f.apply({"output": "{not json"}).reason == "invalid_json"
    assert f.apply({"output": json.dumps({"label": "negative"})}).reason == "required"
    assert f.apply({"instruction": "x"}).reason == "missing_field"


def test_invalid_schema_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match=r"invalid JSON Schema at properties/confidence/type"):
        SchemaFilter(schema={"type": "object", "properties": {"confidence": {"type": "decimal"}}})
    with pytest.raises(ValueError, match="invalid JSON Schema"):
        SchemaFilter(schema={"required": "label"})


def test_schema_filter_ignores_pipeline_bookkeeping_fields() -> None:
    strict = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
              "additionalProperties": False}
    record = {"q": "why?", "id": "abc", "meta": {"strategy": "selfInstruct"}}
    assert SchemaFilter(schema=strict).apply(record).action is Action.DROP
    assert SchemaFilter(schema=strict, ignore_fields=("id", "meta")).apply(record).action is Action.KEEP

"""A schema is checked before it validates anything; a fault is named by where it is."""

from __future__ import annotations

import pytest

from datafoundry.records.schema import InvalidSchema, schema_validator


def test_a_valid_schema_validates_records() -> None:
    validator = schema_validator({"type": "object", "required": ["a"]})
    assert validator.is_valid({"a": 1}) and not validator.is_valid({})


@pytest.mark.parametrize(("schema", "where"), [
    ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "properties/a/type"),
    ({"type": 3}, "type"),
    ({"required": "a"}, "required"),
])
def test_an_invalid_schema_names_where_it_is_wrong(schema: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidSchema, match=f"invalid JSON Schema at {where}: ") as raised:
        schema_validator(schema)
    assert raised.value.where == where and raised.value.message in str(raised.value)

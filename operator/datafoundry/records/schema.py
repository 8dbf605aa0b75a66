"""JSON Schemas that records are validated against (a filter's ``schema``, ``task.outputSchema``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class InvalidSchema(ValueError):
    """A schema that is not valid JSON Schema: `where` the fault is (its path, ``(root)`` for the top)
    and what it is."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"invalid JSON Schema at {where}: {message}")
        self.where = where
        self.message = message


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """The validator of `schema` for the JSON Schema draft it declares (the latest by default), once the
    schema itself is valid (else `InvalidSchema`)."""
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        raise InvalidSchema("/".join(str(p) for p in e.absolute_path) or "(root)", e.message) from e
    return cls(schema)

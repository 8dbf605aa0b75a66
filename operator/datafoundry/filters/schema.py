"""JSON Schema validation of records (or of one field holding structured output)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record
from datafoundry.records.schema import schema_validator


class SchemaFilter(Filter):
    """Drops records that do not validate against ``schema``.

    ``field``: validate ``record[field]`` instead of the whole record; a string there is parsed as
    JSON first (structured output often arrives as a JSON string). Drop reasons are the failing
    JSON Schema keyword (``required``, ``type``, ``enum``...), ``missing_field`` or ``invalid_json``.
    An invalid schema raises ``ValueError`` at construction.
    """

    type = "schema"

    def __init__(self, *, schema: Mapping[str, Any], field: str | None = None, name: str | None = None,
                 ignore_fields: tuple[str, ...] = ()) -> None:
        super().__init__(name=name)
        #: Bookkeeping fields the pipeline adds (ids, provenance) that the user's schema never names.
        self.ignore_fields = ignore_fields
        self._validator = schema_validator(schema)
        self.field = field

    def apply(self, record: Record) -> FilterResult:
        instance: Any = record
        if self.ignore_fields and self.field is None:
            instance = {k: v for k, v in record.items() if k not in self.ignore_fields}
        if self.field is not None:
            if self.field not in record:
                return FilterResult.drop("missing_field")
            instance = record[self.field]
            if isinstance(instance, str):
                try:
                    instance = json.loads(instance)
                except ValueError:
                    return FilterResult.drop("invalid_json")
        if self._validator.is_valid(instance):
            return KEEP
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(instance))
        return FilterResult.drop(str(error.validator) if error is not None else "invalid")

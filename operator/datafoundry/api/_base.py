"""Shared building blocks of the API models: the camelCase base, the API base, strict spec types.

Cross-field rules are declared once on the models (``rules.py``); :class:`APIModel` puts them in
the CRD's schema and checks them on validation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Self, cast, get_args

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, model_validator
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import PydanticCustomError, core_schema

from datafoundry.api import rules
from datafoundry.api.rules import Violation

#: Error type of cross-field violations raised by :class:`APIModel`; see ``errors.py``.
CROSS_FIELD_ERROR = "cross_field"


class CamelModel(BaseModel):
    """A model whose fields are camelCase on the wire (YAML, JSON) and snake_case in Python;
    either spelling is accepted on input. Unknown fields are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class APIModel(CamelModel):
    """Base of all spec/status models: unknown fields are errors, and the cross-field rules
    declared on the model (``rules.py``) are in its CRD schema and checked on validation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=rules.add_rules_to_schema)

    def _list_entry_violations(self) -> Iterator[Violation]:
        """Duplicates in lists the CRD declares ``x-kubernetes-list-type`` ``set`` (equal items) or
        ``map`` (equal keys): the API server refuses them as ``Duplicate value`` at the item's index."""
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            items = getattr(self, name) or ()
            match extra.get("x-kubernetes-list-type"):
                case "set":
                    keyed = [(item, f"duplicate value {str(item)!r}") for item in items]
                case "map":
                    (key,) = cast(list[str], extra["x-kubernetes-list-map-keys"])
                    values = [getattr(item, to_snake(key)) for item in items]
                    keyed = [(value, f"duplicate entry with {key} {str(value)!r}") for value in values]
                case _:
                    continue
            seen: list[Any] = []
            for i, (value, message) in enumerate(keyed):
                if value in seen:
                    yield Violation(f"{info.alias or name}[{i}]", message)
                seen.append(value)

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        found = [*self._list_entry_violations(), *rules.violations(self)]
        if found:
            raise PydanticCustomError(
                CROSS_FIELD_ERROR,
                "{summary}",
                {
                    "summary": "; ".join(f"{v.field}: {v.message}" if v.field else v.message for v in found),
                    "violations": [(v.field, v.message) for v in found],
                },
            )
        return self


@functools.cache
def _integer_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names and aliases of a model's integer fields (``int`` or ``int | None``)."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        args = set(get_args(info.annotation)) - {type(None)} or {info.annotation}
        if args == {int}:
            names.update({name, info.alias or name})
    return frozenset(names)


class SpecModel(APIModel):
    """Base of the spec models: strict types, as the CRD's structural schema.

    The API server refuses ``shards: "2"`` and ``suspend: "yes"`` (a string is not an integer or a
    boolean), so ``datafoundry validate`` must too: no str -> int/float/bool or bool -> int/float
    coercion, no float with a fraction for an integer. What the API server accepts stays valid: an
    integer for a number, a float without a fraction (``2.0``) for an integer. Enum fields take their
    value strings (:class:`APIEnum`).
    """

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        """``shards: 2.0`` is an integer to the API server (a JSON number with no fraction; kubectl
        even sends it as ``2``), so it is one here too. ``2.5`` and ``"2"`` stay errors."""
        if not isinstance(data, dict):
            return data
        found = {k: int(v) for k in _integer_fields(cls) & data.keys()
                 if isinstance(v := data[k], float) and v.is_integer()}
        return {**data, **found} if found else data


class APIEnum(StrEnum):
    """A string enum of the spec: its values validate in strict mode too (the YAML holds strings)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        schema: dict[str, Any] = dict(handler(source))
        # Strict mode wants enum instances; a manifest has the values. Nothing else is coerced:
        # an enum of strings takes only its exact value strings.
        schema["strict"] = False
        return cast(core_schema.CoreSchema, schema)


def has(value: object) -> bool:
    """CEL's ``has()`` for an optional model field: set and not None."""
    return value is not None

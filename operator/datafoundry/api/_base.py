"""Shared building blocks of the API models: the base model, CEL rules and cross-field checks.

Every cross-field rule exists twice: as a CEL ``x-kubernetes-validations`` rule in the CRD (the
API server enforces it at ``kubectl apply``) and as a Python check in :meth:`APIModel.violations`
(``datafoundry validate`` and the operator enforce it). Both report the same field path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, ClassVar, Literal, NamedTuple, Self, cast, get_args

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

#: Error type of cross-field violations raised by :class:`APIModel`; see ``errors.py``.
CROSS_FIELD_ERROR = "cross_field"

Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]


class CelRule(NamedTuple):
    """One ``x-kubernetes-validations`` entry."""

    rule: str
    message: str
    field_path: str | None = None
    reason: Reason = "FieldValueInvalid"

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        out["reason"] = self.reason
        return out


class Violation(NamedTuple):
    """A cross-field rule broken by a model instance.

    ``field`` is relative to the model that found it, in YAML spelling (``ratio``,
    ``task.documents``, ``strategies[1].name``); empty for the model itself.
    """

    field: str
    message: str


def _add_cel_rules(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: tuple[CelRule, ...] = getattr(cls, "cel_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [r.to_schema() for r in rules]
    extra: dict[str, Any] = getattr(cls, "schema_extra", {})
    schema.update(extra)


class APIModel(BaseModel):
    """Base of all spec/status models: camelCase YAML, unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        json_schema_extra=_add_cel_rules,
    )

    #: CEL rules attached to this model's schema node in the CRD.
    cel_rules: ClassVar[tuple[CelRule, ...]] = ()
    #: Extra OpenAPI keys for this model's schema node (e.g. ``x-kubernetes-map-type``).
    schema_extra: ClassVar[dict[str, Any]] = {}

    def violations(self) -> Iterator[Violation]:
        """Cross-field rules; the Python twin of :attr:`cel_rules`. Override in subclasses."""
        return iter(())

    def _set_list_violations(self) -> Iterator[Violation]:
        """Duplicates in lists the CRD declares ``x-kubernetes-list-type: set`` (the API server
        refuses them as ``Duplicate value`` at the item's index)."""
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if not isinstance(extra, dict) or extra.get("x-kubernetes-list-type") != "set":
                continue
            seen: list[Any] = []
            for i, item in enumerate(getattr(self, name) or ()):
                if item in seen:
                    yield Violation(f"{info.alias or name}[{i}]", f"duplicate value {str(item)!r}")
                seen.append(item)

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        found = [*self._set_list_violations(), *self.violations()]
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

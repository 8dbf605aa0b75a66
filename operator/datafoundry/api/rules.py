"""Cross-field rules of the API models, each declared once.

A rule is a model method that says whether the model satisfies it (its Python predicate),
decorated with :func:`rule` (or :func:`exactly_one_of`, :func:`item_rule`), which hold the CEL
expression the API server evaluates on the same schema node, the message and the field path.
From that one declaration

* the CRD gets the ``x-kubernetes-validations`` entry (:func:`add_rules_to_schema`, the models'
  JSON-schema hook), and
* model validation (``datafoundry validate``, the operator) reports a :class:`Violation` with the
  same message and path for every rule an instance breaks (:func:`violations`).

Invariant: a rule's predicate and its CEL expression decide alike on every object; the unit tests
hold an example that passes and one that fails for each rule, and the integration tests send both
to the API server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.alias_generators import to_snake
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]


class CelRule(NamedTuple):
    """One ``x-kubernetes-validations`` entry; ``field_path`` starts with a dot, relative to the node."""

    rule: str
    message: str
    field_path: str | None = None
    reason: Reason = "FieldValueInvalid"

    def to_schema(self) -> dict[str, Any]:
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


def join_path(*parts: str) -> str:
    """``join_path("filters[0]", "model")`` -> ``filters[0].model``; empty parts are skipped."""
    return ".".join(p for p in parts if p)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A cross-field rule: the Python predicate and the CEL expression of one check.

    ``path`` is the field the rule names, relative to the schema node that carries the CEL ("" for
    the node itself). That node is the model's own, or its field ``on`` (YAML name; the CEL's
    ``self`` is then that field's value, and the rule is checked only when the field is set, as
    the API server does). With ``item`` set, ``path`` names a list and the predicate judges its
    entries one at a time (``check(model, entry)``): the CEL names the list, validation names the
    offending entry and ``item`` inside it (``filters[1].model``).
    """

    cel: str
    message: str
    check: Callable[..., bool]
    path: str = ""
    reason: Reason = "FieldValueInvalid"
    on: str = ""
    item: str | None = None

    def cel_rule(self) -> CelRule:
        return CelRule(self.cel, self.message, f".{self.path}" if self.path else None, self.reason)

    def violations(self, model: object) -> Iterator[Violation]:
        where = join_path(self.on, self.path)
        if self.on and getattr(model, to_snake(self.on)) is None:
            return
        if self.item is None:
            if not self.check(model):
                yield Violation(where, self.message)
            return
        for i, entry in enumerate(getattr(model, to_snake(self.path)) or ()):
            if not self.check(model, entry):
                yield Violation(join_path(f"{where}[{i}]", self.item), self.message)


#: A rule's predicate: a model method returning whether the model satisfies the rule.
Check = TypeVar("Check", bound=Callable[..., bool])
_RULE = "__datafoundry_rule__"


def _declare(declared: Rule) -> Callable[[Check], Check]:
    def attach(check: Check) -> Check:
        setattr(check, _RULE, dataclasses.replace(declared, check=check))
        return check

    return attach


def _unset(*_: object) -> bool:
    raise AssertionError("a declared rule without its predicate")


def rule(
    cel: str, message: str, path: str = "", reason: Reason = "FieldValueInvalid", *, on: str = ""
) -> Callable[[Check], Check]:
    """Declare the decorated method ``(self) -> bool`` as a cross-field rule (see :class:`Rule`)."""
    return _declare(Rule(cel, message, _unset, path, reason, on))


def exactly_one_of(first: str, second: str) -> Callable[[Check], Check]:
    """Declare the decorated method as the rule that exactly one of two optional fields is set."""
    return rule(f"has(self.{first}) != has(self.{second})", f"exactly one of {first} or {second} must be set")


def item_rule(
    cel: str, message: str, path: str, item: str, reason: Reason = "FieldValueInvalid"
) -> Callable[[Check], Check]:
    """Declare the decorated method ``(self, entry) -> bool`` as a rule on each entry of the list
    ``path``; its CEL is written on the model, over the whole list (see :class:`Rule`)."""
    return _declare(Rule(cel, message, _unset, path, reason, item=item))


@dataclasses.dataclass(frozen=True)
class ValueRule:
    """A rule on one value, declared once as ``Annotated`` metadata of its type: ``check`` runs
    after the value's own validation (a ``ValueError`` with ``message`` when it fails), and the
    value's schema node carries ``cel`` with the same message."""

    cel: str
    message: str
    check: Callable[[Any], bool]

    def _validate(self, value: Any) -> Any:
        if not self.check(value):
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.setdefault("x-kubernetes-validations", []).append(CelRule(self.cel, self.message).to_schema())
        return out


_declared: dict[type, tuple[Rule, ...]] = {}


def rules_of(model: type) -> tuple[Rule, ...]:
    """The rules declared on a model and its bases, in declaration order (bases first)."""
    if model not in _declared:
        found: dict[str, Rule] = {}
        for klass in reversed(model.__mro__):
            for name, value in vars(klass).items():
                declared = getattr(value, _RULE, None)
                if isinstance(declared, Rule):
                    found[name] = declared
        _declared[model] = tuple(found.values())
    return _declared[model]


def violations(model: object) -> Iterator[Violation]:
    """Every declared rule ``model`` breaks."""
    for declared in rules_of(type(model)):
        yield from declared.violations(model)


def add_rules_to_schema(schema: dict[str, Any], model: type) -> None:
    """JSON-schema hook: each declared rule as ``x-kubernetes-validations`` on its node."""
    for declared in rules_of(model):
        node = schema["properties"][declared.on] if declared.on else schema
        node.setdefault("x-kubernetes-validations", []).append(declared.cel_rule().to_schema())


__all__ = [
    "CelRule",
    "Check",
    "Reason",
    "Rule",
    "ValueRule",
    "Violation",
    "add_rules_to_schema",
    "exactly_one_of",
    "item_rule",
    "join_path",
    "rule",
    "rules_of",
    "violations",
]

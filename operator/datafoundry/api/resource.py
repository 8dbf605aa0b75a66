"""The DataFoundryJob resource and the immutability of its recipe.

Immutability: once the job has started (``status.startTime`` is set) the recipe may not change.
Recipe = every spec field except

* ``suspend``, ``activeDeadlineSeconds``, ``ttlSecondsAfterFinished`` (operational knobs, as on a
  batch Job), and
* ``budget``, whose limits may be raised (never lowered, never added where unlimited) so that a
  job that is running out of rounds or GPU hours can be extended.

The API server enforces this with CEL transition rules at the schema root (root rules see
``status``; on a spec update ``status`` equals ``oldSelf.status``, on a status update ``spec``
equals ``oldSelf.spec``). :func:`immutable_changes` is the Python twin for the operator.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from datafoundry.api._base import APIModel
from datafoundry.api.meta import API_VERSION, KIND, MAX_NAME_LENGTH
from datafoundry.api.rules import CelRule
from datafoundry.api.spec import Budget, DataFoundryJobSpec
from datafoundry.api.status import DataFoundryJobStatus
from datafoundry.api.types import DNS_LABEL

#: Spec fields (YAML spelling) that are frozen once the job has started.
IMMUTABLE_FIELDS: Final = (
    "task",
    "target",
    "generator",
    "input",
    "filters",
    "mix",
    "evaluation",
    "output",
    "workers",
    "seed",
    "queueName",
    "priorityClassName",
    "backoffLimit",
)
#: Spec fields that may change at any time.
MUTABLE_FIELDS: Final = ("suspend", "activeDeadlineSeconds", "ttlSecondsAfterFinished")
#: Spec fields that may only grow once the job has started.
GROW_ONLY_FIELDS: Final = ("budget",)

_STARTED = "has(oldSelf.status) && has(oldSelf.status.startTime)"


def _immutable_rule(field: str) -> CelRule:
    new, old = f"self.spec.{field}", f"oldSelf.spec.{field}"
    return CelRule(
        f"!({_STARTED}) || (has({new}) == has({old}) && (!has({new}) || {new} == {old}))",
        f"spec.{field} is immutable once the job has started (status.startTime is set)",
        f".spec.{field}",
        "FieldValueForbidden",
    )


def _root_rules() -> tuple[CelRule, ...]:
    rules = [_immutable_rule(f) for f in IMMUTABLE_FIELDS]
    b_new, b_old = "self.spec.budget", "oldSelf.spec.budget"
    rules.append(
        CelRule(
            f"!({_STARTED}) || !has({b_new}.maxRounds) || !has({b_old}.maxRounds)"
            f" || {b_new}.maxRounds >= {b_old}.maxRounds",
            "spec.budget.maxRounds may only be increased once the job has started",
            ".spec.budget.maxRounds",
            "FieldValueForbidden",
        )
    )
    rules.append(
        CelRule(
            f"!({_STARTED}) || !has({b_new}.maxGPUHours)"
            f" || (has({b_old}.maxGPUHours) && {b_new}.maxGPUHours >= {b_old}.maxGPUHours)",
            "spec.budget.maxGPUHours may only be increased (or removed) once the job has started",
            ".spec.budget.maxGPUHours",
            "FieldValueForbidden",
        )
    )
    return tuple(rules)


class ObjectMeta(APIModel):
    """The parts of metav1.ObjectMeta the operator uses; other metadata fields are allowed and kept."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(
        default=None,
        max_length=MAX_NAME_LENGTH,
        pattern=DNS_LABEL,
        description=f"Job name: a DNS label of at most {MAX_NAME_LENGTH} characters (children add suffixes).",
    )
    generate_name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH - 5, description="Name prefix.")
    namespace: str | None = Field(default=None, max_length=63, description="Namespace.")
    uid: str | None = Field(default=None, description="Unique id set by the API server.")
    generation: int | None = Field(default=None, description="Spec generation set by the API server.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")


class DataFoundryJob(APIModel):
    """DataFoundryJob turns a declarative recipe into a filtered, domain-matched LLM training
    dataset in object storage: it generates records with an LLM (or reads existing ones), filters,
    deduplicates and mixes them, and publishes the dataset with a manifest."""

    # Transition rules compare the object with oldSelf: they have no predicate on one object, so
    # they are CEL only; immutable_changes() is their Python twin.
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [r.to_schema() for r in _root_rules()]})

    api_version: Literal["datafoundry.io/v1alpha1"] = Field(default="datafoundry.io/v1alpha1", description=API_VERSION)
    kind: Literal["DataFoundryJob"] = Field(default="DataFoundryJob", description=KIND)
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Standard object metadata.")
    spec: DataFoundryJobSpec = Field(description="Desired dataset.")
    status: DataFoundryJobStatus | None = Field(default=None, description="Observed state, written by the operator.")


def _spec_dict(spec: DataFoundryJobSpec | dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, dict):
        spec = DataFoundryJobSpec.model_validate(spec)
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out.extend(_diff(old.get(key), new.get(key), f"{path}.{key}"))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            out.extend(_diff(o, n, f"{path}[{i}]"))
        return out
    return [path]


def immutable_changes(
    old_spec: DataFoundryJobSpec | dict[str, Any], new_spec: DataFoundryJobSpec | dict[str, Any]
) -> list[str]:
    """Field paths (``spec.generator.shards``) whose change is forbidden once the job has started.

    Mirrors the CRD's root transition rules, but reports leaf paths. Defaults are applied to both
    sides first, so spelling out a default is not a change. Dicts are validated as specs.
    """
    old, new = _spec_dict(old_spec), _spec_dict(new_spec)
    changes: list[str] = []
    for field in IMMUTABLE_FIELDS:
        changes.extend(_diff(old.get(field), new.get(field), f"spec.{field}"))
    old_budget = Budget.model_validate(old.get("budget", {}))
    new_budget = Budget.model_validate(new.get("budget", {}))
    if new_budget.max_rounds < old_budget.max_rounds:
        changes.append("spec.budget.maxRounds")
    if new_budget.max_gpu_hours is not None and (
        old_budget.max_gpu_hours is None or new_budget.max_gpu_hours < old_budget.max_gpu_hours
    ):
        changes.append("spec.budget.maxGPUHours")
    return changes


__all__ = [
    "GROW_ONLY_FIELDS",
    "IMMUTABLE_FIELDS",
    "MUTABLE_FIELDS",
    "DataFoundryJob",
    "ObjectMeta",
    "immutable_changes",
]

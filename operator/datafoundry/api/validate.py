"""Offline validation of DataFoundryJob manifests (the ``datafoundry validate`` logic)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from datafoundry.api.errors import FieldError, field_errors
from datafoundry.api.meta import API_VERSION, KIND
from datafoundry.api.resource import DataFoundryJob


def validate_manifest(obj: Any) -> tuple[DataFoundryJob | None, list[FieldError]]:
    """Validate one decoded manifest; returns the model (or None) and every error found."""
    if not isinstance(obj, dict):
        return None, [FieldError("", f"expected a mapping (a Kubernetes object), got {type(obj).__name__}")]
    errors: list[FieldError] = []
    if obj.get("apiVersion") != API_VERSION:
        errors.append(FieldError("apiVersion", f"must be {API_VERSION}, got {obj.get('apiVersion')!r}"))
    if obj.get("kind") != KIND:
        errors.append(FieldError("kind", f"must be {KIND}, got {obj.get('kind')!r}"))
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    try:
        job = DataFoundryJob.model_validate(body)
    except ValidationError as exc:
        return None, errors + field_errors(exc)
    return (None if errors else job), errors


__all__ = ["validate_manifest"]

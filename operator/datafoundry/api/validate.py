"""Offline validation of DataFoundryJob manifests (the ``datafoundry validate`` logic)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from datafoundry.api.errors import FieldError, field_errors
from datafoundry.api.meta import API_VERSION, KIND
from datafoundry.api.resource import DataFoundryJob


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable_strings(value: Any, path: str) -> Iterator[str]:
    """Paths of keys and strings that cannot be encoded as UTF-8."""
    if isinstance(value, str):
        if not _is_encodable(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not _is_encodable(key):
                yield f"{path}.{key!a}" if path else f"{key!a}"
                continue
            yield from _unencodable_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unencodable_strings(item, f"{path}[{index}]")


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
    unencodable = list(_unencodable_strings(body, ""))
    if unencodable:
        # Lone UTF-16 surrogates survive YAML/JSON decoding in Python but can never be stored,
        # hashed or sent to a pod; the API server would have replaced them with U+FFFD.
        return None, errors + [FieldError(path, "not valid Unicode (contains a lone surrogate such as \\ud800)")
                               for path in unencodable]
    try:
        job = DataFoundryJob.model_validate(body)
    except ValidationError as exc:
        return None, errors + field_errors(exc)
    return (None if errors else job), errors


__all__ = ["validate_manifest"]

"""Offline validation of DataFoundryJob manifests (the ``datafoundry validate`` logic)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any, Final

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


@functools.cache
def _schema() -> dict[str, Any]:
    from datafoundry.api.crd import openapi_schema

    return openapi_schema()


def _prune_nulls(value: Any, schema: dict[str, Any]) -> Any:
    """The API server's pruning of ``null``: a null field of an object (that is not ``nullable``)
    is dropped before defaulting, so ``shards: null`` means "not set" (and gets the default).
    Items of lists and the content of free-form objects keep their nulls, as on the server."""
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = props.get(key) if props else (extra if isinstance(extra, dict) else None)
            if sub is None:
                out[key] = item
            elif item is None and not sub.get("nullable"):
                continue
            else:
                out[key] = _prune_nulls(item, sub)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune_nulls(item, schema["items"]) for item in value]
    return value


#: What the API server lets all of an object's annotations weigh together (keys and values).
ANNOTATIONS_LIMIT: Final = 256 * 1024
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied_size(obj: dict[str, Any]) -> int:
    """Bytes that client-side ``kubectl apply`` puts in the object's annotations: its
    last-applied-configuration (the manifest as compact JSON, as Go encodes it: ``<``, ``>`` and
    ``&`` escaped as six bytes each) plus the annotations the manifest has itself."""
    def nbytes(text: str) -> int:
        return len(text.encode("utf-8", "surrogatepass"))

    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    size = nbytes(text) + 5 * sum(text.count(c) for c in "<>&") + len(LAST_APPLIED)
    if isinstance(annotations, dict):
        size += sum(nbytes(str(k)) + nbytes(str(v)) for k, v in annotations.items() if k != LAST_APPLIED)
    return size


def size_warning(obj: Any) -> str | None:
    """A warning when client-side ``kubectl apply`` cannot store this manifest: its
    last-applied-configuration annotation would pass the API server's 256 KiB annotation limit."""
    if not isinstance(obj, dict):
        return None
    size = last_applied_size(obj)
    if size <= ANNOTATIONS_LIMIT:
        return None
    return (
        f"warning: the manifest is {size / 1024:.0f} KiB as JSON; client-side `kubectl apply` stores it in the "
        f"{LAST_APPLIED} annotation, and annotations may hold at most 256 KiB, so the API server will refuse it. "
        "Move the inline seeds to a file (task.seeds.uri: s3://... or file://...), or use "
        "`kubectl apply --server-side` (or `kubectl create`)"
    )


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
    for part in ("spec", "status"):
        if isinstance(body.get(part), dict):
            body[part] = _prune_nulls(body[part], _schema()["properties"][part])
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


__all__ = ["ANNOTATIONS_LIMIT", "last_applied_size", "size_warning", "validate_manifest"]

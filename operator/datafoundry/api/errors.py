"""Turn pydantic validation errors into Kubernetes-style field errors (``spec.generator.shards``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from datafoundry.api._base import CROSS_FIELD_ERROR
from datafoundry.api.spec import FilterType

_UNION_TAGS = frozenset(t.value for t in FilterType)
_MESSAGES = {"extra_forbidden": "unknown field", "missing": "Required value"}


class FieldError(NamedTuple):
    """One validation error: a YAML field path and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def loc_to_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``('spec', 'filters', 0, 'minhash', 'bands')`` -> ``spec.filters[0].bands``.

    Discriminated-union tags that pydantic inserts after a list index are dropped.
    """
    path = prefix
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(previous, int) and part in _UNION_TAGS:
            pass
        else:
            path = f"{path}.{part}" if path else str(part)
        previous = part
    return path


def _join(path: str, field: str) -> str:
    if not field:
        return path
    if not path:
        return field
    return f"{path}{field}" if field.startswith("[") else f"{path}.{field}"


def _expand(error: ErrorDetails, prefix: str) -> list[FieldError]:
    path = loc_to_path(tuple(error["loc"]), prefix)
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == CROSS_FIELD_ERROR:
        return [FieldError(_join(path, field), message) for field, message in ctx.get("violations", [])]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return [FieldError(_join(path, "type"), error["msg"])]
    return [FieldError(path, _MESSAGES.get(kind, error["msg"]))]


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Every error in ``exc`` with its field path, in order, without duplicates."""
    out: list[FieldError] = []
    for error in exc.errors(include_url=False):
        for fe in _expand(error, prefix):
            if fe not in out:
                out.append(fe)
    return out


__all__ = ["FieldError", "field_errors", "loc_to_path"]

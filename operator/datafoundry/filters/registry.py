"""Filters by spec type name: ``build_filter("length", min_chars=10)``."""

from __future__ import annotations

from typing import Any

from datafoundry.filters.base import Filter
from datafoundry.filters.decontam import DecontaminationFilter
from datafoundry.filters.dedup import ExactDedupFilter
from datafoundry.filters.judge import JudgeFilter
from datafoundry.filters.language import LanguageFilter
from datafoundry.filters.length import LengthFilter
from datafoundry.filters.minhash import MinHashFilter
from datafoundry.filters.pii import PIIFilter
from datafoundry.filters.quality import QualityFilter
from datafoundry.filters.schema import SchemaFilter

FILTER_TYPES: dict[str, type[Filter]] = {
    cls.type: cls
    for cls in (
        SchemaFilter,
        LengthFilter,
        LanguageFilter,
        QualityFilter,
        PIIFilter,
        ExactDedupFilter,
        MinHashFilter,
        DecontaminationFilter,
        JudgeFilter,
    )
}


def build_filter(type: str, **options: Any) -> Filter:
    """Construct the filter registered under ``type`` with snake_case keyword ``options``."""
    try:
        cls = FILTER_TYPES[type]
    except KeyError:
        raise ValueError(f"unknown filter type {type!r}; known: {', '.join(FILTER_TYPES)}") from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for filter {type!r}: {exc}") from exc

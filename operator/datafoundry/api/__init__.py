"""The DataFoundryJob API: pydantic models (the single source of truth), CRD generation, validation.

Import the models from here::

    from datafoundry.api import DataFoundryJob, DataFoundryJobSpec, immutable_changes
"""

from __future__ import annotations

from datafoundry.api._base import CamelModel
from datafoundry.api.errors import FieldError, field_errors
from datafoundry.api.meta import (
    API_VERSION,
    CATEGORIES,
    CRD_NAME,
    GROUP,
    KIND,
    MAX_NAME_LENGTH,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from datafoundry.api.resource import (
    GROW_ONLY_FIELDS,
    IMMUTABLE_FIELDS,
    MUTABLE_FIELDS,
    DataFoundryJob,
    ObjectMeta,
    immutable_changes,
)
from datafoundry.api.spec import DataFoundryJobSpec, FilterType, StrategyName, TaskType, effective_strategies
from datafoundry.api.status import Condition, ConditionType, DataFoundryJobStatus, Phase
from datafoundry.api.validate import validate_manifest

__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "CRD_NAME",
    "GROUP",
    "GROW_ONLY_FIELDS",
    "IMMUTABLE_FIELDS",
    "KIND",
    "MAX_NAME_LENGTH",
    "MUTABLE_FIELDS",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "CamelModel",
    "Condition",
    "ConditionType",
    "DataFoundryJob",
    "DataFoundryJobSpec",
    "DataFoundryJobStatus",
    "FieldError",
    "FilterType",
    "ObjectMeta",
    "Phase",
    "StrategyName",
    "TaskType",
    "effective_strategies",
    "field_errors",
    "immutable_changes",
    "validate_manifest",
]

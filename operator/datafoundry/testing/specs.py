"""Valid DataFoundryJob specs for tests: the smallest one the API accepts, with fields replaced."""

from __future__ import annotations

import copy
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec

#: 100 records from two shards of `org/tiny` seeded by one inline pair, output to s3://bucket/out with
#: the credentials in Secret `s3` (camelCase, as a manifest holds it).
MINIMAL: dict[str, Any] = {
    "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 100},
    "generator": {"model": "org/tiny", "shards": 2},
    "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
}


def spec_dict(**fields: Any) -> dict[str, Any]:
    """MINIMAL with each keyword replacing its top-level field (None removes it from the spec)."""
    return {**copy.deepcopy(MINIMAL), **fields}


def make_spec(**fields: Any) -> DataFoundryJobSpec:
    """`spec_dict(**fields)` validated into the API model."""
    return DataFoundryJobSpec.model_validate(spec_dict(**fields))

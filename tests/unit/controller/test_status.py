"""`build_status` writes exactly what the status model and the CRD's structural schema keep.

The CRD's status schema is strict: the API server silently prunes any key it does not declare.
These tests tie the operator's status to the model (`DataFoundryJobStatus`) and to the published
schema, for every kind of decision, so a key the builder writes can never be dropped unnoticed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from datafoundry.api.stages import Stage
from datafoundry.api.status import DataFoundryJobStatus, Phase, ShardCounts
from datafoundry.controller.reconcile import Decision
from datafoundry.controller.status import build_status, invalid_status
from datafoundry.pipeline.contract import Progress
from datafoundry.pipeline.counts import RecordCounts

CRD = Path(__file__).resolve().parents[3] / "crds" / "datafoundryjob.yaml"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STARTED = {"startTime": "2026-01-02T03:00:00Z"}


def _status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def prune(value: Any, schema: dict[str, Any]) -> Any:
    """What the API server keeps of `value` under a structural `schema` (unknown fields pruned)."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return value
        if "properties" in schema:
            props = schema["properties"]
            return {k: prune(v, props[k]) for k, v in value.items() if k in props}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {k: prune(v, extra) for k, v in value.items()}
        return {}
    if isinstance(value, list):
        return [prune(v, schema.get("items", {})) for v in value]
    return value


def _counts() -> RecordCounts:
    return RecordCounts(generated=120, accepted=80, rejected={"length": 30, "generator/truncated": 10}, replay=0,
                        prompt_tokens=1000, completion_tokens=5000)


def _published() -> Progress:
    return Progress(stage=Stage.PUBLISH, round=1, shard=0, state="done", accepted=100, bytes_written=4096,
                    manifest_uri="s3://bucket/out/manifest.json", sha256="a" * 64,
                    decontamination={"items": 5, "indexed": 5, "shortItems": 1, "exactOnlyItems": 0,
                                     "emptyItems": 0, "matchedItems": 2, "records": 3},
                    quality={"reportUri": "s3://bucket/out/quality.json", "distinct2": 0.5, "selfBleu": 0.25,
                             "warnings": 1, "compressionRatio": None})


DECISIONS = {
    "generating": Decision(stage=Phase.GENERATING, counts=_counts(), gpu_hours=1.25,
                           shards={Stage.GENERATE: ShardCounts(total=4, active=2, succeeded=2),
                                   Stage.FILTER: ShardCounts(total=4, active=1, succeeded=1),
                                   Stage.PUBLISH: ShardCounts()}),
    "suspended": Decision(stage=Phase.FILTERING, suspended=True, counts=_counts()),
    "failed": Decision(failed=("ShardFailed", "filter Job j-filter-r0-s1 failed"), counts=_counts()),
    "published": Decision(stage=Phase.PUBLISHING, published=_published(), generated_done=True, filtered_done=True,
                          succeeded=("Published", "published 100 records"), warning="over the GPU budget",
                          counts=_counts()),
}


def _build(decision: Decision) -> dict[str, Any]:
    return build_status(STARTED, decision, generation=3, target=100, output_uri="s3://bucket/out", plan_hash="h",
                        plan_config_map="job-plan", now=NOW, gpu_hours_of_deleted_pods=0.5)


@pytest.mark.parametrize("case", sorted(DECISIONS))
def test_built_status_is_the_model_dump_and_nothing_is_pruned(case: str) -> None:
    status = _build(DECISIONS[case])
    model = DataFoundryJobStatus.model_validate(status)
    assert model.model_dump(by_alias=True, exclude_none=True, mode="json", exclude_unset=True) == status
    assert prune(status, _status_schema()) == status


def test_refused_spec_status_is_the_model_dump_and_nothing_is_pruned() -> None:
    status = invalid_status({}, 2, "SpecInvalid", "spec.target.records: must be positive")
    assert status["phase"] == "Failed"
    DataFoundryJobStatus.model_validate(status)
    assert prune(status, _status_schema()) == status


def test_the_prune_check_would_notice_an_undeclared_key() -> None:
    status = _build(DECISIONS["generating"])
    status["progress"]["notInTheSchema"] = 1
    assert prune(status, _status_schema()) != status


def test_only_the_stages_the_decision_counts_are_written() -> None:
    status = _build(DECISIONS["generating"])
    assert set(status["shards"]) == {"generate", "filter", "publish"}
    assert status["shards"]["generate"] == {"total": 4, "active": 2, "succeeded": 2, "failed": 0}

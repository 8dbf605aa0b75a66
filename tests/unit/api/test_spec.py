"""The pydantic API models: round trips, defaults, cross-field rules, immutability, status."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from datafoundry.api import (
    API_VERSION,
    DataFoundryJob,
    DataFoundryJobSpec,
    StrategyName,
    effective_strategies,
    immutable_changes,
    validate_manifest,
)
from datafoundry.api.errors import loc_to_path
from datafoundry.api.spec import DecontaminationFilter, MinHashFilter
from datafoundry.api.status import Condition, DataFoundryJobStatus, Phase, ProgressStatus

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "manifests" / "valid"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((VALID / name).read_text())
    assert isinstance(doc, dict)
    return doc


def minimal() -> dict[str, Any]:
    return load("minimal.yaml")


def errors_of(doc: dict[str, Any]) -> list[str]:
    _, errors = validate_manifest(doc)
    return [e.path for e in errors]


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    node = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def subset(small: Any, big: Any) -> bool:
    """Every key/value of ``small`` is in ``big`` (lists compared item by item)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(subset, small, big))
    return bool(small == big)


@pytest.mark.parametrize("name", sorted(p.name for p in VALID.glob("*.yaml")))
def test_valid_manifests_round_trip(name: str) -> None:
    doc = load(name)
    job, errors = validate_manifest(doc)
    assert errors == []
    assert job is not None
    dumped = job.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert subset(doc["spec"], dumped["spec"]), "every field written in the manifest survives a dump"
    again = DataFoundryJob.model_validate(dumped)
    assert again == job
    assert dumped["apiVersion"] == API_VERSION


def test_defaults_are_applied() -> None:
    job, errors = validate_manifest(minimal())
    assert errors == []
    assert job is not None
    spec = job.spec
    assert spec.generator is not None
    assert spec.task is not None
    assert spec.task.type == "instruction"
    assert spec.task.language == "en"
    assert spec.target.overgenerate == 1.5
    assert spec.budget.max_rounds == 3
    assert spec.budget.max_gpu_hours is None
    assert spec.generator.shards == 1
    assert spec.generator.gpus_per_shard == 1
    assert spec.generator.tensor_parallel_size == 1
    assert spec.generator.engine.type == "vllm"
    assert spec.generator.sampling.temperature == 0.8
    assert spec.generator.sampling.top_p == 0.95
    assert spec.output.format == "jsonl"
    assert spec.output.compression == "none"
    assert (spec.seed, spec.suspend, spec.backoff_limit) == (0, False, 3)
    assert spec.filters is None


def test_filter_defaults_are_applied_per_type() -> None:
    doc = minimal()
    doc["spec"]["filters"] = [{"type": "minhash"}, {"type": "decontamination", "evalSets": ["s3://b-x/e.jsonl"]}]
    job, errors = validate_manifest(doc)
    assert errors == []
    assert job is not None
    assert job.spec.filters is not None
    minhash, decontam = job.spec.filters
    assert isinstance(minhash, MinHashFilter)
    assert (minhash.ngram, minhash.num_perm) == (5, 128)
    assert isinstance(decontam, DecontaminationFilter)
    assert decontam.ngram == 13


def test_populate_by_python_name() -> None:
    spec = DataFoundryJobSpec.model_validate(minimal()["spec"])
    again = DataFoundryJobSpec(
        task=spec.task,
        target=spec.target,
        generator=spec.generator,
        output=spec.output,
        ttl_seconds_after_finished=60,
    )
    assert again.model_dump(by_alias=True)["ttlSecondsAfterFinished"] == 60


CROSS_FIELD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("both modes", {"spec.input": {"uris": ["s3://bucket/x/"]}}, "spec"),
    ("seeds both", {"spec.task.seeds.uri": "s3://bucket/seeds.jsonl"}, "spec.task.seeds"),
    ("openai endpoint", {"spec.generator.engine": {"type": "openai"}}, "spec.generator.engine.endpoint"),
    ("vllm endpoint", {"spec.generator.engine": {"endpoint": "http://x:1/v1"}}, "spec.generator.engine.endpoint"),
    (
        "minhash bands",
        {"spec.filters": [{"type": "minhash", "numPerm": 100, "bands": 16}]},
        "spec.filters[0].bands",
    ),
    (
        "length min>max",
        {"spec.filters": [{"type": "length", "minTokens": 9, "maxTokens": 3}]},
        "spec.filters[0].minTokens",
    ),
    ("length no bound", {"spec.filters": [{"type": "length"}]}, "spec.filters[0]"),
    ("duplicate type", {"spec.filters": [{"type": "pii"}, {"type": "pii", "name": "pii2"}]}, "spec.filters"),
    ("duplicate name", {"spec.filters": [{"type": "judge"}, {"type": "quality", "name": "judge"}]}, "spec.filters"),
    ("schema filter", {"spec.filters": [{"type": "schema"}]}, "spec.task.outputSchema"),
    ("documentQA", {"spec.generator.strategies": [{"name": "documentQA"}]}, "spec.task.documents"),
    ("taxonomy", {"spec.generator.strategies": [{"name": "taxonomy"}]}, "spec.task.taxonomy"),
    (
        "zero weights",
        {"spec.generator.strategies": [{"name": "selfInstruct", "weight": 0}]},
        "spec.generator.strategies",
    ),
    (
        "dup strategy",
        {"spec.generator.strategies": [{"name": "persona"}, {"name": "persona"}]},
        "spec.generator.strategies[1]",
    ),
    (
        "pairs need preference",
        {"spec.generator.strategies": [{"name": "preferencePairs"}]},
        "spec.generator.strategies",
    ),
    ("classification labels", {"spec.task.type": "classification"}, "spec.task.labels"),
    ("labels elsewhere", {"spec.task.labels": [{"name": "a"}, {"name": "b"}]}, "spec.task.labels"),
    (
        "tp divides gpus",
        {"spec.generator.gpusPerShard": 3, "spec.generator.tensorParallelSize": 2},
        "spec.generator.tensorParallelSize",
    ),
    (
        "chunk overlap",
        {"spec.task.documents": {"uri": "s3://bucket/docs/", "chunkChars": 500, "chunkOverlapChars": 500}},
        "spec.task.documents.chunkOverlapChars",
    ),
    ("s3 credentials", {"spec.output": {"uri": "s3://bucket/out"}}, "spec.output.credentials"),
    (
        "credentials none",
        {"spec.output": {"uri": "file:///x", "credentials": {}}},
        "spec.output.credentials",
    ),
    (
        "shard sizes",
        {"spec.output": {"uri": "file:///x", "shardSizeRecords": 10, "shardSizeBytes": 2000000}},
        "spec.output.shardSizeBytes",
    ),
    (
        "toleration",
        {"spec.generator.tolerations": [{"operator": "Exists", "value": "x"}]},
        "spec.generator.tolerations[0].value",
    ),
    ("replay ratio", {"spec.mix": {"replay": {"uri": "s3://bucket/r/", "ratio": 1}}}, "spec.mix.replay.ratio"),
]


@pytest.mark.parametrize(
    ("patch", "expected"), [c[1:] for c in CROSS_FIELD_CASES], ids=[c[0] for c in CROSS_FIELD_CASES]
)
def test_cross_field_rules_report_field_paths(patch: dict[str, Any], expected: str) -> None:
    doc = minimal()
    for path, value in patch.items():
        set_path(doc, path, value)
    assert expected in errors_of(doc)


def test_input_mode_needs_no_task_and_judge_needs_model() -> None:
    doc = minimal()
    del doc["spec"]["generator"]
    del doc["spec"]["task"]
    doc["spec"]["input"] = {"uris": ["s3://bucket/data/"]}
    doc["spec"]["output"] = {"uri": "file:///tmp/out"}
    assert errors_of(doc) == []
    doc["spec"]["filters"] = [{"type": "judge"}]
    assert errors_of(doc) == ["spec.filters[0].model", "spec.filters[0].engine"]
    # A curation job's judge scores through an endpoint: the filter pods have no GPU.
    doc["spec"]["filters"] = [{"type": "judge", "model": "m", "engine": {"type": "vllm"}}]
    assert errors_of(doc) == ["spec.filters[0].engine"]
    doc["spec"]["filters"] = [{"type": "judge", "model": "m",
                               "engine": {"type": "openai", "endpoint": "http://judge:8000/v1"}}]
    assert errors_of(doc) == []


def test_judge_with_its_own_model_needs_an_endpoint_in_generation_mode() -> None:
    doc = minimal()
    doc["spec"]["filters"] = [{"type": "judge"}]  # the generator's model and engine
    assert errors_of(doc) == []
    doc["spec"]["filters"] = [{"type": "judge", "model": "other/judge"}]
    assert errors_of(doc) == ["spec.filters[0].engine"]
    doc["spec"]["filters"] = [{"type": "judge", "model": "other/judge",
                               "engine": {"type": "openai", "endpoint": "http://judge:8000/v1"}}]
    assert errors_of(doc) == []
    doc["spec"]["filters"] = [{"type": "judge"}, {"type": "judge", "name": "judge2"}]
    assert "spec.filters" in errors_of(doc)


def test_generator_requires_task() -> None:
    doc = minimal()
    del doc["spec"]["task"]
    assert "spec.task" in errors_of(doc)


def test_every_error_is_reported() -> None:
    doc = minimal()
    doc["spec"]["generator"]["shards"] = 0
    doc["spec"]["target"]["records"] = -1
    doc["spec"]["bogus"] = True
    doc["spec"]["filters"] = [{"type": "minhash", "bands": 7}, {"type": "nope"}]
    paths = errors_of(doc)
    for expected in (
        "spec.generator.shards",
        "spec.target.records",
        "spec.bogus",
        "spec.filters[0].bands",
        "spec.filters[1].type",
    ):
        assert expected in paths


def test_wrong_api_version_and_kind() -> None:
    doc = minimal()
    doc["apiVersion"] = "datafoundry.io/v1"
    doc["kind"] = "Job"
    assert {"apiVersion", "kind"} <= set(errors_of(doc))


def test_loc_to_path_strips_union_tags() -> None:
    assert loc_to_path(("spec", "filters", 2, "minhash", "bands")) == "spec.filters[2].bands"
    assert loc_to_path(("spec", "generator", "tolerations", 0, "key")) == "spec.generator.tolerations[0].key"
    assert loc_to_path(("ngram",), "spec.filters[0]") == "spec.filters[0].ngram"


# --- effective strategies ------------------------------------------------------------------


def test_effective_strategies_defaults() -> None:
    spec = DataFoundryJobSpec.model_validate(minimal()["spec"])
    assert [s.name for s in effective_strategies(spec)] == [StrategyName.SELF_INSTRUCT]
    prefs = DataFoundryJobSpec.model_validate(load("openai-preference.yaml")["spec"])
    assert [s.name for s in effective_strategies(prefs)] == [StrategyName.PREFERENCE_PAIRS]
    full = DataFoundryJobSpec.model_validate(load("full.yaml")["spec"])
    assert StrategyName.PERSONA not in [s.name for s in effective_strategies(full)], "weight 0 is dropped"


def test_magpie_needs_no_seeds_while_the_instruct_strategies_do() -> None:
    doc = minimal()
    del doc["spec"]["task"]["seeds"]
    doc["spec"]["generator"]["strategies"] = [{"name": "magpie"}]
    assert errors_of(doc) == []
    for name in ("selfInstruct", "evolInstruct"):
        doc["spec"]["generator"]["strategies"] = [{"name": "magpie"}, {"name": name}]
        assert errors_of(doc) == ["spec.task.seeds"], name


# --- immutability --------------------------------------------------------------------------


def spec_with(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(minimal()["spec"])
    for path, value in changes.items():
        set_path(spec, path.replace("__", "."), value)
    return spec


def test_immutable_changes_none_for_same_spec_and_spelled_defaults() -> None:
    assert immutable_changes(spec_with(), spec_with()) == []
    assert immutable_changes(spec_with(), spec_with(generator__shards=1, seed=0)) == []


def test_immutable_changes_reports_leaf_paths() -> None:
    changed = immutable_changes(spec_with(), spec_with(generator__shards=4, output__format="parquet"))
    assert changed == ["spec.generator.shards", "spec.output.format"]


@pytest.mark.parametrize(
    "change",
    [{"suspend": True}, {"activeDeadlineSeconds": 600}, {"ttlSecondsAfterFinished": 10}, {"budget": {"maxRounds": 5}}],
)
def test_mutable_fields_are_not_changes(change: dict[str, Any]) -> None:
    assert immutable_changes(spec_with(), spec_with(**change)) == []


def test_budget_may_only_grow() -> None:
    old = spec_with(budget={"maxRounds": 4, "maxGPUHours": 10})
    assert immutable_changes(old, spec_with(budget={"maxRounds": 3, "maxGPUHours": 10})) == ["spec.budget.maxRounds"]
    assert immutable_changes(old, spec_with(budget={"maxRounds": 4, "maxGPUHours": 5})) == ["spec.budget.maxGPUHours"]
    assert immutable_changes(old, spec_with(budget={"maxRounds": 4})) == [], "removing the limit raises it"
    assert immutable_changes(spec_with(), spec_with(budget={"maxGPUHours": 5})) == ["spec.budget.maxGPUHours"]


def test_immutable_changes_on_lists_and_added_sections() -> None:
    old = spec_with(filters=[{"type": "minhash"}])
    assert immutable_changes(old, spec_with(filters=[{"type": "minhash", "threshold": 0.9}])) == [
        "spec.filters[0].threshold"
    ]
    assert immutable_changes(old, spec_with(filters=[])) == ["spec.filters"]
    assert immutable_changes(spec_with(), spec_with(mix={"replay": {"uri": "s3://bucket/r/", "ratio": 0.1}})) == [
        "spec.mix"
    ]


# --- status --------------------------------------------------------------------------------


def test_status_round_trip_and_progress_display() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = DataFoundryJobStatus(
        phase=Phase.GENERATING,
        observed_generation=2,
        conditions=[
            Condition(
                type="Accepted", status="True", reason="SpecValid", last_transition_time=now, observed_generation=2
            )
        ],
        progress=ProgressStatus(target=50, accepted=21, percent=42, rejected={"minhash": 3}),
        start_time=now,
    )
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["progress"]["display"] == "42%"
    assert status.progress is not None
    assert status.progress.model_copy(update={"percent": 43}).model_dump()["display"] == "43%"
    assert dumped["startTime"] == "2026-01-02T03:04:05Z"
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert dumped["observedGeneration"] == 2
    assert DataFoundryJobStatus.model_validate(dumped) == status


def test_condition_reason_must_be_camel_case() -> None:
    with pytest.raises(ValueError, match="reason"):
        Condition.model_validate(
            {"type": "Failed", "status": "True", "reason": "not valid!", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        )
    with pytest.raises(ValueError, match="status"):
        Condition.model_validate(
            {"type": "Failed", "status": "Yes", "reason": "Boom", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        )


def test_job_with_status_validates() -> None:
    doc = minimal()
    doc["status"] = {"phase": "Succeeded", "startTime": "2026-01-01T00:00:00Z", "output": {"manifestUri": "s3://b/m"}}
    job, errors = validate_manifest(doc)
    assert errors == []
    assert job is not None
    assert job.status is not None
    assert job.status.output is not None
    assert job.status.output.manifest_uri == "s3://b/m"

"""Which shards' live progress is read (the background reader's rules: test_live_reader.py). Also
that the slim Job kept in the operator's index reads exactly like the whole Job."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api import keys
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.live import running_shards
from datafoundry.controller.observe import child_job, job_essentials, observe
from datafoundry.controller.owner import Owner

UID = "11111111-2222-3333-4444-555555555555"
SPEC = DataFoundryJobSpec.model_validate({
    "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 100},
    "generator": {"model": "org/tiny", "shards": 4},
    "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
})


def job(stage: str, round_: int = 0, *, shard: int | None = None, completions: int = 1, completed: str = "",
        complete: bool = False, active: int = 0, ready: int | None = None, deleting: bool = False
        ) -> dict[str, Any]:
    labels = {keys.LABEL_JOB_UID: UID, keys.LABEL_STAGE: stage, keys.LABEL_ROUND: str(round_)}
    if shard is not None:
        labels[keys.LABEL_SHARD] = str(shard)
    meta: dict[str, Any] = {"name": f"j-{stage}-{shard}", "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"completions": completions, **({"completionMode": "Indexed"} if stage == "generate" else {})},
        "status": {"completedIndexes": completed, "active": active, "ready": active if ready is None else ready,
                   "conditions": [{"type": "Complete", "status": "True"}] if complete else []},
    }


def test_running_shards_are_the_unfinished_ones_with_pods() -> None:
    observed = observe([
        job("generate", completions=4, completed="0,2", active=2),
        job("filter", shard=0, active=1),
        job("filter", shard=2, complete=True),
        job("filter", shard=3),  # created, no pod yet
        job("filter", 1, shard=3, active=1, ready=0),  # its pod waits for a node: it writes nothing yet
        job("filter", shard=1, active=1, deleting=True),
        job("dedup", active=1),  # dedup and publish write no live progress the status shows
    ], [])
    assert running_shards(observed) == [("generate", 0, 1), ("generate", 0, 3), ("filter", 0, 0)]


def test_nothing_is_read_once_the_generator_is_done() -> None:
    observed = observe([job("generate", completions=2, completed="0-1", complete=True)], [])
    assert running_shards(observed) == []


def server_job(manifest: dict[str, Any]) -> dict[str, Any]:
    """A child Job as the API server returns it: defaults, managed fields and a status added."""
    obj = {**manifest, "metadata": {**manifest["metadata"], "uid": "u", "resourceVersion": "42",
                                    "creationTimestamp": "2026-01-01T00:00:00Z",
                                    "managedFields": [{"manager": "datafoundry", "fieldsV1": {"f:spec": {}}}]}}
    obj["spec"] = {**manifest["spec"], "backoffLimit": 6, "selector": {"matchLabels": {"x": "y"}}}
    obj["status"] = {"active": 1, "completedIndexes": "0,2-3", "succeeded": 3, "startTime": "2026-01-01T00:00:01Z",
                     "conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-01-01T00:01:00Z"}
    return obj


@pytest.mark.parametrize("kind", ["generate", "filter"])
def test_the_indexed_essentials_of_a_job_read_like_the_whole_job(kind: str) -> None:
    config = OperatorConfig()
    manifest = (ch.generate_job(Owner("ns", "demo", UID), SPEC, config, 1, 150) if kind == "generate"
                else ch.filter_job(Owner("ns", "demo", UID), SPEC, config, 1, 3))
    whole = server_job(manifest)
    slim = job_essentials(whole)
    assert child_job(slim) == child_job(whole)
    assert "managedFields" not in slim["metadata"] and "template" not in slim["spec"]
    deleting = {**whole, "metadata": {**whole["metadata"], "deletionTimestamp": "2026-01-01T00:02:00Z"}}
    assert child_job(job_essentials(deleting)).deleting

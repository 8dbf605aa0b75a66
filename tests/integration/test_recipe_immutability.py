"""Every recipe field is immutable once the job has started, on the real API server (CEL transition
rules), while suspend, the deadline, the TTL and raising the budget stay allowed.

No operator runs in this module: it would start the jobs (set status.startTime) on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from datafoundry.api import IMMUTABLE_FIELDS
from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.testing.testbed import REPO, Kube

pytestmark = pytest.mark.integration

MANIFESTS = REPO / "tests" / "fixtures" / "manifests" / "valid"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["metadata"].pop("namespace", None)
    return doc


CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "task": ("full", {"task": {"domain": "Something else entirely"}}),
    "target": ("full", {"target": {"records": 20001}}),
    "generator": ("full", {"generator": {"shards": 2}}),
    "input": ("curation", {"input": {"shards": 5}}),
    "filters": ("full", {"filters": [{"type": "length", "minChars": 1}]}),
    "mix": ("full", {"mix": {"replay": {"ratio": 0.3}}}),
    "evaluation": ("full", {"evaluation": {"forgetting": {"steps": 80}}}),
    "output": ("full", {"output": {"format": "jsonl"}}),
    "seed": ("full", {"seed": 43}),
    "queueName": ("full", {"queueName": "other-queue"}),
    "priorityClassName": ("full", {"priorityClassName": "batch-high"}),
    "backoffLimit": ("full", {"backoffLimit": 5}),
    "workers": ("full", {"workers": {"env": [{"name": "HTTPS_PROXY", "value": "http://other-proxy:3128"}]}}),
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_every_recipe_field_is_immutable_once_started(
    kube: Kube, crd: None, namespace: str, field: str
) -> None:
    assert set(CHANGES) == set(IMMUTABLE_FIELDS)
    base, change = CHANGES[field]
    doc = load(MANIFESTS / f"{base}.yaml")
    custom = k8s.CustomObjectsApi(kube.api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
    name = doc["metadata"]["name"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": change})  # not started
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name,
                                                 {"status": {"startTime": "2026-01-01T00:00:00Z"}})
    undo = {field: doc["spec"].get(field)}
    with pytest.raises(k8s.ApiException) as err:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": undo})
    assert err.value.status == 422
    assert f"spec.{field} is immutable once the job has started" in err.value.body, err.value.body
    # What stays mutable: suspend, the deadline, the TTL, and raising the budget.
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {
        "suspend": True, "activeDeadlineSeconds": 999, "ttlSecondsAfterFinished": 5, "budget": {"maxRounds": 10}}})
    with pytest.raises(k8s.ApiException) as err:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                              {"spec": {"budget": {"maxRounds": 1}}})
    assert err.value.status == 422 and "spec.budget.maxRounds" in err.value.body

"""The generated CRD on the real API server: bad manifests refused at `kubectl apply` with field
paths, immutability after start, and `kubectl explain` documentation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.api.spec import StrategyOptions
from datafoundry.testing.testbed import Kube

pytestmark = pytest.mark.integration
MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))


def expected_path(path: Path) -> str:
    return path.read_text().splitlines()[0].removeprefix("# expect: ").strip()


def test_corpus_has_at_least_15_cases() -> None:
    assert len(INVALID) >= 15


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_refused_at_apply_with_field_path(kube: Kube, crd: None, namespace: str, path: Path) -> None:
    proc = kube.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert proc.returncode != 0, f"{path.name} was accepted by the API server"
    err = proc.stderr
    expect = expected_path(path)
    # Unknown fields come back from strict field validation as `unknown field "spec.x"`.
    assert expect in err or f'unknown field "{expect}"' in err, f"{path.name}: expected {expect!r} in:\n{err}"


def test_valid_manifests_are_accepted(kube: Kube, crd: None, namespace: str) -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    assert examples
    for path in sorted((MANIFESTS / "valid").glob("*.yaml")) + examples:
        doc = yaml.safe_load(path.read_text())
        doc["metadata"].pop("namespace", None)
        kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(doc))


def test_recipe_is_immutable_once_started_but_suspend_is_not(kube: Kube, crd: None, namespace: str) -> None:
    doc = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    custom = k8s.CustomObjectsApi(kube.api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
    name = doc["metadata"]["name"]
    # Before the job starts the recipe can still be fixed.
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"seed": 7}})
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": {"startTime": "2026-01-01T00:00:00Z"}})
    with pytest.raises(k8s.ApiException) as err:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"seed": 8}})
    assert err.value.status == 422 and "spec.seed" in err.value.body
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"suspend": True}})
    assert custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)["spec"]["suspend"] is True


def test_defaults_are_applied_by_the_api_server(kube: Kube, crd: None, namespace: str) -> None:
    doc = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    out = kube.kubectl("apply", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-", input=json.dumps(doc))
    spec = json.loads(out.stdout)["spec"]
    assert spec["generator"]["shards"] == 1 and spec["suspend"] is False


def test_kubectl_explain_documents_fields(kube: Kube, crd: None) -> None:
    out = kube.kubectl("explain", "dfj.spec.generator").stdout
    assert "KIND:       DataFoundryJob" in out or "KIND:" in out
    for field in ("model", "shards", "gpusPerShard", "engine", "sampling", "tolerations"):
        assert field in out, field
    shards = kube.kubectl("explain", "dfj.spec.generator.shards").stdout
    assert "Number of generator shards" in shards
    options = kube.kubectl("explain", "dfj.spec.generator.strategies.options").stdout
    for field in StrategyOptions.model_fields.values():
        assert field.alias is not None and field.alias in options, field.alias
    assert "default 3" in kube.kubectl("explain", "dfj.spec.generator.strategies.options.examples").stdout
    status = kube.kubectl("explain", "dfj.status.conditions").stdout
    assert "observedGeneration" in status

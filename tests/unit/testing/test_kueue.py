"""The pure parts of running Kueue on the test bed: its webhooks and conversion webhooks on loopback."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from datafoundry.testing.kueue import (
    MUTATING,
    VALIDATING,
    configuration,
    converted_crds,
    loopback_crds,
    loopback_webhooks,
)

CA = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"


def hook(name: str, path: str, group: str, resource: str) -> dict[str, Any]:
    return {"name": name, "admissionReviewVersions": ["v1"], "failurePolicy": "Fail", "sideEffects": "None",
            "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": path}},
            "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": [resource]}]}


MANIFESTS = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
     "metadata": {"name": "mutating-webhook-configuration"},
     "webhooks": [hook("mjob.kb.io", "/mutate-batch-v1-job", "batch", "jobs"),
                  hook("mpod.kb.io", "/mutate--v1-pod", "", "pods"),
                  hook("mdeployment.kb.io", "/mutate-apps-v1-deployment", "apps", "deployments"),
                  hook("mcronjob.kb.io", "/mutate-batch-v1-cronjob", "batch", "cronjobs"),
                  hook("mworkload.kb.io", "/mutate-kueue-x-k8s-io-v1beta2-workload", "kueue.x-k8s.io", "workloads")]},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
     "metadata": {"name": "validating-webhook-configuration"},
     "webhooks": [hook("vjob.kb.io", "/validate-batch-v1-job", "batch", "jobs")]},
    None,
]


def test_only_the_job_and_kueue_webhooks_are_registered_and_they_call_loopback_with_the_ca() -> None:
    mutating, validating = loopback_webhooks([m for m in MANIFESTS if m], 9443, CA)
    assert mutating["metadata"] == {"name": MUTATING} and validating["metadata"] == {"name": VALIDATING}
    assert [h["name"] for h in mutating["webhooks"]] == ["mjob.kb.io", "mworkload.kb.io"]
    assert mutating["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate-batch-v1-job", "caBundle": base64.b64encode(CA).decode()}
    assert validating["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:9443/validate-batch-v1-job"
    assert MANIFESTS[0] is not None and "service" in MANIFESTS[0]["webhooks"][0]["clientConfig"]  # input untouched


def test_conversion_webhooks_go_where_upstreams_kustomization_puts_them() -> None:
    kustomization = {"patches": [{"path": "patches/webhook_in_workloads.yaml"},
                                 {"path": "patches/cainjection_in_workloads.yaml"}]}
    patches = {
        "patches/webhook_in_workloads.yaml": {"metadata": {"name": "workloads.kueue.x-k8s.io"},
                                              "spec": {"conversion": {"strategy": "Webhook"}}},
        "patches/cainjection_in_workloads.yaml": {"metadata": {"name": "workloads.kueue.x-k8s.io",
                                                               "annotations": {"cert-manager.io/inject-ca-from": "x"}}},
    }
    names = converted_crds(kustomization, patches)
    assert names == ["workloads.kueue.x-k8s.io"]
    crds = [{"metadata": {"name": "workloads.kueue.x-k8s.io"}, "spec": {"versions": []}},
            {"metadata": {"name": "topologies.kueue.x-k8s.io"}, "spec": {"versions": []}}]
    workloads, topologies = loopback_crds(crds, names, 9443, CA)
    webhook = workloads["spec"]["conversion"]["webhook"]
    assert workloads["spec"]["conversion"]["strategy"] == "Webhook"
    assert webhook["clientConfig"]["url"] == "https://127.0.0.1:9443/convert"
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == CA
    assert "conversion" not in topologies["spec"] and "conversion" not in crds[0]["spec"]


def test_configuration_binds_loopback_only_with_given_certificates_and_the_job_integration() -> None:
    cfg = configuration(1, 2, 3, Path("/certs"))
    assert cfg["webhook"] == {"port": 1, "host": "127.0.0.1", "certDir": "/certs"}
    assert cfg["health"]["healthProbeBindAddress"] == "127.0.0.1:2"
    assert cfg["metrics"]["bindAddress"] == "127.0.0.1:3"
    assert cfg["internalCertManagement"] == {"enable": False}
    assert cfg["leaderElection"] == {"leaderElect": False}
    assert cfg["integrations"] == {"frameworks": ["batch/job"]}

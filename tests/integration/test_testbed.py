"""Proof that the test bed's parts are real: API server, scheduler, controllers, kwok, RBAC,
PodSecurity admission and S3 all behave as they do in a production cluster."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from datafoundry.testing.testbed import S3, Kube
from datafoundry.testing.waiting import wait_for

pytestmark = pytest.mark.integration

K8S_VERSION = "v1.35.4"


def test_api_server_reports_its_real_version(kube: Kube) -> None:
    info = k8s.VersionApi(kube.api).get_code()
    assert info.git_version == K8S_VERSION
    assert (info.major, info.minor) == ("1", K8S_VERSION.split(".")[1])


def test_fake_nodes_have_gpus_and_are_ready(kube: Kube) -> None:
    nodes = {n.metadata.name: n for n in kube.core.list_node().items}
    gpu = [n for name, n in nodes.items() if name.startswith("gpu-node-")]
    cpu = [n for name, n in nodes.items() if name.startswith("cpu-node-")]
    assert len(gpu) == 4 and len(cpu) == 2
    for node in gpu:
        assert node.status.allocatable["nvidia.com/gpu"] == "8"
        assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in node.spec.taints)
    for node in gpu + cpu:
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testbed.datafoundry.io"},
    "spec": {
        "group": "testbed.datafoundry.io",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 8},
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                },
                                "x-kubernetes-validations": [
                                    {"rule": "self.size <= 4 || self.color == 'red'",
                                     "message": "sizes above 4 must be red"}
                                ],
                            },
                            "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_round_trip_and_schema_rejection(kube: Kube, namespace: str) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.testbed.datafoundry.io", "--timeout=60s")
    custom = k8s.CustomObjectsApi(kube.api)
    group, version, plural = "testbed.datafoundry.io", "v1", "widgets"
    body = {"apiVersion": f"{group}/{version}", "kind": "Widget",
            "metadata": {"name": "w1"}, "spec": {"size": 3, "color": "blue"}}
    wait_for("the new CRD to serve", lambda: _try_create(custom, namespace, body), timeout=30)
    got = custom.get_namespaced_custom_object(group, version, namespace, plural, "w1")
    assert got["spec"] == {"size": 3, "color": "blue"}
    custom.patch_namespaced_custom_object_status(group, version, namespace, plural, "w1", {"status": {"ok": True}})
    assert custom.get_namespaced_custom_object(group, version, namespace, plural, "w1")["status"] == {"ok": True}

    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0, "color": "green"}}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(group, version, namespace, plural, bad)
    assert err.value.status == 422
    assert "spec.size" in err.value.body and "spec.color" in err.value.body
    cel = {**body, "metadata": {"name": "w3"}, "spec": {"size": 6, "color": "blue"}}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(group, version, namespace, plural, cel)
    assert err.value.status == 422 and "sizes above 4 must be red" in err.value.body


def _try_create(custom: k8s.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> bool:
    try:
        custom.create_namespaced_custom_object("testbed.datafoundry.io", "v1", namespace, "widgets", body)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def test_indexed_gpu_job_is_scheduled_completed_and_garbage_collected(kube: Kube, namespace: str) -> None:
    owner = kube.core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner"), data={"a": "b"})
    )
    job = k8s.V1Job(
        metadata=k8s.V1ObjectMeta(
            name="gpu-job",
            owner_references=[k8s.V1OwnerReference(
                api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)],
        ),
        spec=k8s.V1JobSpec(
            completion_mode="Indexed",
            completions=4,
            parallelism=4,
            backoff_limit_per_index=1,
            max_failed_indexes=1,
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels={"kwok.datafoundry.io/auto-complete": "true"}),
                spec=k8s.V1PodSpec(
                    restart_policy="Never",
                    tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
                    node_selector={"nvidia.com/gpu.present": "true"},
                    containers=[k8s.V1Container(
                        name="gen", image="example.invalid/generator:1",
                        resources=k8s.V1ResourceRequirements(limits={"nvidia.com/gpu": "4"}),
                    )],
                ),
            ),
        ),
    )
    kube.batch.create_namespaced_job(namespace, job)

    def finished() -> k8s.V1Job | None:
        j = kube.batch.read_namespaced_job("gpu-job", namespace)
        return j if (j.status.succeeded or 0) == 4 else None

    done = wait_for("the indexed GPU job to complete", finished, timeout=120)
    assert done.status.completed_indexes == "0-3"
    pods = kube.core.list_namespaced_pod(namespace, label_selector="job-name=gpu-job").items
    assert len(pods) == 4
    assert {p.spec.node_name.startswith("gpu-node-") for p in pods} == {True}
    indexes = sorted(p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1", "2", "3"]
    # 4 pods x 4 GPUs on nodes of 8: the scheduler had to spread them over at least two nodes.
    assert len({p.spec.node_name for p in pods}) >= 2

    kube.core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def collected() -> bool:
        jobs = kube.batch.list_namespaced_job(namespace).items
        left = kube.core.list_namespaced_pod(namespace, label_selector="job-name=gpu-job").items
        return not jobs and not left

    wait_for("the garbage collector to remove the job and its pods", collected, timeout=120)


def test_serviceaccount_without_rbac_is_forbidden(kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="nobody")))
    token = kube.core.create_namespaced_service_account_token(
        "nobody", namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    ).status.token
    conf = k8s.Configuration()
    conf.host = kube.server
    conf.ssl_ca_cert = kube.api.configuration.ssl_ca_cert
    conf.api_key = {"authorization": f"Bearer {token}"}
    as_sa = k8s.CoreV1Api(k8s.ApiClient(conf))
    with pytest.raises(ApiException) as err:
        as_sa.list_namespaced_pod(namespace)
    assert err.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in err.value.body
    # The same token is accepted once a Role grants the verb: the 403 came from RBAC, not authn.
    rbac = k8s.RbacAuthorizationV1Api(kube.api)
    rbac.create_namespaced_role(namespace, k8s.V1Role(
        metadata=k8s.V1ObjectMeta(name="pod-reader"),
        rules=[k8s.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])]))
    rbac.create_namespaced_role_binding(namespace, k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="pod-reader"),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="nobody", namespace=namespace)]))
    wait_for("the role binding to take effect", lambda: _can_list(as_sa, namespace), timeout=30)


def _can_list(api: k8s.CoreV1Api, namespace: str) -> bool:
    try:
        api.list_namespaced_pod(namespace)
    except ApiException as e:
        if e.status == 403:
            return False
        raise
    return True


def _pod(name: str, security: dict[str, Any] | None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "example.invalid/app:1"}
    if security is not None:
        container["securityContext"] = security
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], "nodeSelector": {"type": "kwok"}}}


def test_restricted_pod_security_rejects_unconfined_pod(kube: Kube, namespace: str) -> None:
    kube.core.patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"}}})
    with pytest.raises(ApiException) as err:
        # No securityContext at all: privilege escalation allowed, capabilities kept, no seccomp.
        kube.core.create_namespaced_pod(namespace, _pod("unconfined", None))
    assert err.value.status == 403
    body = err.value.body
    assert "violates PodSecurity" in body and "restricted:latest" in body
    assert "allowPrivilegeEscalation != false" in body and "seccompProfile" in body
    compliant = {
        "allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    created = kube.core.create_namespaced_pod(namespace, _pod("compliant", compliant))
    assert created.metadata.name == "compliant"


def test_s3_multipart_round_trip_and_wrong_credentials(s3: S3, s3_prefix: str, tmp_path: Path) -> None:
    payload = os.urandom(13 * 1024 * 1024 + 17)
    key = s3_prefix + "big.bin"
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    src, dst = tmp_path / "up.bin", tmp_path / "down.bin"
    src.write_bytes(payload)
    s3.client.upload_file(str(src), s3.bucket, key, Config=config)
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentLength"] == len(payload)
    assert head["ETag"].strip('"').endswith("-3"), "expected a 3-part multipart upload"
    s3.client.download_file(s3.bucket, key, str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(payload).digest()

    intruder = s3.make_client(access_key=s3.env["AWS_ACCESS_KEY_ID"], secret_key="not-the-secret")
    with pytest.raises(ClientError) as err:
        intruder.get_object(Bucket=s3.bucket, Key=key)
    assert err.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied", "403"}
    stranger = s3.make_client(access_key="nobody", secret_key="nothing")
    with pytest.raises(ClientError) as err:
        stranger.put_object(Bucket=s3.bucket, Key=s3_prefix + "x", Body=b"x")
    assert err.value.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied", "403"}

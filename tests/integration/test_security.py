"""Security on the real control plane: credentials never leak, least privilege holds under real
RBAC, every worker pod passes the restricted Pod Security Standard, and one tenant cannot reach
another tenant's namespace or Secret through the operator.

The operator runs as a separate process under its own ServiceAccount token (`operator` fixture);
worker pods run as local processes through the test kubelet (`datafoundry.testing.podrunner`).
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from datafoundry.api.keys import LABEL_STAGE
from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.controller.rbac import policy_rules
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import (
    OPERATOR_NS,
    S3_SECRET,
    WORKER_SA,
    Operator,
    job_status,
    prepare_job_namespace,
    write_token_kubeconfig,
)
from datafoundry.testing.testbed import S3, Kube, fresh_namespace

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------------ helpers
def can_i(kube: Kube, kubeconfig: Path, verb: str, resource: str, ns: str | None) -> bool:
    scope = ["-n", ns] if ns else ["--all-namespaces"]
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    proc = subprocess.run([kube.kubectl_bin, "--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource,
                           *extra, *scope], capture_output=True, text=True)
    assert proc.stdout.strip() in ("yes", "no"), proc.stderr  # an error is not a "no"
    return proc.stdout.strip() == "yes"


def as_user(kube: Kube, kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kube.kubectl_bin, "--kubeconfig", str(kubeconfig), *args], capture_output=True,
                          text=True, input=input)


def forbidden(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode != 0 and "forbidden" in proc.stderr.lower()


def token_kubeconfig(kube: Kube, ns: str, sa: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="df-sec-")) / "kubeconfig"
    write_token_kubeconfig(kube, ns, sa, path)
    return path


def wait_phase(kube: Kube, ns: str, name: str, want: str, op: Operator, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = job_status(kube, ns, name)
        if st.get("phase") == want:
            return st
        if st.get("phase") in ("Succeeded", "Failed"):
            raise AssertionError(f"{name} ended {st.get('phase')}, wanted {want}: {st}\n{op.log_tail()}")
        time.sleep(0.5)
    raise AssertionError(f"{name} is not {want}: {job_status(kube, ns, name)}\n{op.log_tail()}")


def condition(st: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in st.get("conditions") or [] if c["type"] == kind)


def curation_job(name: str, s3: S3, prefix: str, secret: str = S3_SECRET, **input_: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": name},
            "spec": {"target": {"records": 8},
                     "input": {"uris": [f"s3://{s3.bucket}/{prefix}in/"], "format": "jsonl", "shards": 2, **input_},
                     "filters": [{"type": "length", "minChars": 10}, {"type": "exactDedup"}],
                     "output": {"uri": f"s3://{s3.bucket}/{prefix}{name}", "endpointURL": s3.endpoint_url,
                                "credentials": {"secretRef": {"name": secret}}}}}


def put_input(s3: S3, prefix: str, n: int = 12) -> None:
    for part in ("a", "b"):
        body = "".join(json.dumps({"id": f"{part}{i}", "text": f"Record {part}{i}: how to rotate a certificate."})
                       + "\n" for i in range(n))
        s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}in/{part}.jsonl", Body=body.encode())




@pytest.fixture
def second_namespace(kube: Kube) -> Iterator[str]:
    with fresh_namespace(kube) as name:
        yield name


def _dump(kube: Kube, objects: Any) -> str:
    return json.dumps(kube.api.sanitize_for_serialization(objects))


# --------------------------------------------------------------------- 11: no credential leaks
def test_s3_secret_value_appears_nowhere(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, real_pod_runner: PodRunner
) -> None:
    """A real job end to end (real workers, real S3 with the Secret's keys), one that succeeds and
    one that fails: the access key and secret key are in no log, event, status, ConfigMap, child
    object, published object or metric; the pods reference the Secret by name."""
    ns = job_namespace
    put_input(s3, s3_prefix)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(curation_job("leakcheck", s3, s3_prefix)))
    broken = curation_job("leakfail", s3, s3_prefix)
    broken["spec"]["input"]["uris"] = [f"s3://{s3.bucket}/{s3_prefix}missing/"]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(broken))
    wait_phase(kube, ns, "leakcheck", "Succeeded", operator)
    wait_phase(kube, ns, "leakfail", "Failed", operator)
    time.sleep(2)  # kopf posts Events asynchronously

    secret = kube.core.read_namespaced_secret(S3_SECRET, ns)
    values = [base64.b64decode(secret.data[k]).decode() for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    assert values == [s3.env["AWS_ACCESS_KEY_ID"], s3.env["AWS_SECRET_ACCESS_KEY"]]
    assert all(len(v) >= 12 for v in values)  # distinctive enough that a hit is a leak
    needles = values + [base64.b64encode(v.encode()).decode() for v in values]
    assert needles[3] in _dump(kube, secret)  # positive control: the Secret itself holds this form

    custom = k8s.CustomObjectsApi(kube.api)
    haystacks: dict[str, str] = {
        "operator log": operator.log_path.read_text(errors="replace"),
        "operator metrics": operator.metrics(),
        "events": kube.kubectl("get", "events", "-n", ns, "-o", "json").stdout,
        "events.k8s.io": kube.kubectl("get", "events.events.k8s.io", "-n", ns, "-o", "json").stdout,
        "DataFoundryJobs": json.dumps(custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)),
        "ConfigMaps": _dump(kube, kube.core.list_namespaced_config_map(ns).items),
        "Jobs": _dump(kube, kube.batch.list_namespaced_job(ns).items),
        "Pods": _dump(kube, kube.core.list_namespaced_pod(ns).items),
    }
    worker_files = [p for p in real_pod_runner._workdir.glob(f"{ns}/*/*") if p.is_file()]
    assert any(p.name == "log" for p in worker_files) and any(p.name == "termination-log" for p in worker_files)
    for path in worker_files:
        haystacks[f"worker {path.parent.name}/{path.name}"] = path.read_text(errors="replace")
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=s3_prefix).get("Contents", [])]
    assert f"{s3_prefix}leakcheck/manifest.json" in keys and f"{s3_prefix}leakcheck/README.md" in keys
    for key in keys:  # manifest, dataset card, data, staging (progress, summaries), inputs
        haystacks[f"s3 {key}"] = s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read().decode(
            errors="replace")
    leaks = [(where, needle[:4] + "...") for where, text in haystacks.items() for needle in needles if needle in text]
    assert not leaks, leaks
    assert len(haystacks) > 20, sorted(haystacks)

    # The pods get the keys from the Secret by reference, never as literal values.
    pods = kube.core.list_namespaced_pod(ns).items
    assert pods
    for pod in pods:
        env = {e.name: e for e in pod.spec.containers[0].env}
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[var].value is None
            ref = env[var].value_from.secret_key_ref
            assert (ref.name, ref.key) == (S3_SECRET, var), pod.metadata.name


# ------------------------------------------------------------------------- 12: least privilege
def test_operator_identity_cannot_read_secrets_or_escalate(kube: Kube, operator_rbac: Path, job_namespace: str) -> None:
    ns, op = job_namespace, operator_rbac
    assert can_i(kube, op, "create", "jobs.batch", ns) and can_i(kube, op, "watch", "datafoundryjobs", None)
    for verb in ("get", "list", "watch"):
        assert not can_i(kube, op, verb, "secrets", None), verb
        assert not can_i(kube, op, verb, "secrets", ns), verb
    for verb, resource in [("create", "pods"), ("create", "pods/exec"), ("create", "serviceaccounts/token"),
                           ("create", "rolebindings.rbac.authorization.k8s.io"), ("impersonate", "serviceaccounts"),
                           ("update", "jobs.batch"), ("delete", "namespaces"), ("create", "secrets")]:
        assert not can_i(kube, op, verb, resource, ns), (verb, resource)
    for args in (["get", "secret", S3_SECRET, "-n", ns], ["get", "secrets", "-A"]):
        assert forbidden(as_user(kube, op, *args)), args


def test_namespaced_rbac_stays_in_the_watched_namespace(
    kube: Kube, crd: None, namespace: str, second_namespace: str
) -> None:
    """The chart's namespaced mode: the same rules as a Role in each watched namespace (test_chart
    checks the chart renders exactly `policy_rules()`). Its token cannot act in another namespace."""
    watched, other = namespace, second_namespace
    sa = f"df-ns-{uuid.uuid4().hex[:6]}"
    manifests = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": OPERATOR_NS}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": sa, "namespace": watched}, "rules": policy_rules()},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": sa, "namespace": watched},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": OPERATOR_NS}]},
    ]
    kube.kubectl("create", "namespace", OPERATOR_NS, check=False)
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    try:
        op = token_kubeconfig(kube, OPERATOR_NS, sa)
        assert can_i(kube, op, "create", "jobs.batch", watched) and can_i(kube, op, "create", "configmaps", watched)
        for ns in (other, OPERATOR_NS, "default", "kube-system"):
            for verb, resource in [("create", "jobs.batch"), ("create", "configmaps"), ("list", "datafoundryjobs"),
                                   ("patch", "datafoundryjobs/status"), ("get", "pods")]:
                assert not can_i(kube, op, verb, resource, ns), (ns, verb, resource)
        assert not can_i(kube, op, "list", "datafoundryjobs", None), "no cluster scope in namespaced mode"
        for ns in (watched, other):
            assert not can_i(kube, op, "get", "secrets", ns)
        # Real writes, not only can-i: a Job and a ConfigMap in the other namespace are refused.
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "escape"},
               "spec": {"template": {"spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "x", "image": "busybox"}]}}}}
        assert forbidden(as_user(kube, op, "create", "-n", other, "-f", "-", input=json.dumps(job)))
        assert forbidden(as_user(kube, op, "create", "configmap", "escape", "-n", other))
        assert forbidden(as_user(kube, op, "get", "secrets", "-n", watched))
        assert not kube.batch.list_namespaced_job(other).items
    finally:
        kube.kubectl("delete", "serviceaccount", sa, "-n", OPERATOR_NS, "--wait=false", check=False)


def test_worker_service_account_cannot_call_the_api(kube: Kube, job_namespace: str) -> None:
    ns = job_namespace
    sa = kube.core.read_namespaced_service_account(WORKER_SA, ns)
    assert sa.automount_service_account_token is False
    worker = token_kubeconfig(kube, ns, WORKER_SA)
    for verb, resource in [("get", "pods"), ("list", "configmaps"), ("get", "secrets"), ("create", "jobs.batch"),
                           ("get", "datafoundryjobs"), ("patch", "datafoundryjobs/status"), ("create", "events"),
                           ("create", "pods"), ("*", "*")]:
        assert not can_i(kube, worker, verb, resource, ns), (verb, resource)
        assert not can_i(kube, worker, verb, resource, None), (verb, resource)
    for args in (["get", "pods", "-n", ns], ["get", "configmaps", "-n", ns], ["get", "secret", S3_SECRET, "-n", ns],
                 ["get", "dfj", "-A"]):
        assert forbidden(as_user(kube, worker, *args)), args


# --------------------------------------------------------- 13: restricted Pod Security Standard
@pytest.fixture
def restricted_namespace(kube: Kube, s3: S3) -> Iterator[str]:
    name = f"t-psa-{uuid.uuid4().hex[:8]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    labels["pod-security.kubernetes.io/enforce-version"] = "latest"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    prepare_job_namespace(kube, s3, name)
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)


def test_every_worker_pod_is_admitted_under_restricted_pod_security(
    kube: Kube, s3: S3, s3_prefix: str, restricted_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns = restricted_namespace
    # Enforcement is live: a pod without the restricted settings is refused here.
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
             "spec": {"containers": [{"name": "x", "image": "busybox"}]}}
    refused = kube.kubectl("create", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(plain), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    # A generation job on GPU nodes (the /dev/shm emptyDir, GPU limits, tolerations) and every CPU stage.
    doc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": "psa"},
           "spec": {"task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
                    "target": {"records": 10}, "generator": {"model": "org/tiny", "shards": 2, "gpusPerShard": 1},
                    "filters": [{"type": "length", "minChars": 1}],
                    "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}psa", "endpointURL": s3.endpoint_url,
                               "credentials": {"secretRef": {"name": S3_SECRET}}}}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))
    wait_phase(kube, ns, "psa", "Succeeded", operator)
    jobs = kube.batch.list_namespaced_job(ns).items
    stages = {j.metadata.labels[LABEL_STAGE] for j in jobs}
    assert stages == {"generate", "filter", "dedup", "publish"}, stages
    pods = kube.core.list_namespaced_pod(ns).items
    assert {p.metadata.labels[LABEL_STAGE] for p in pods} == stages
    assert any(v.empty_dir and v.empty_dir.medium == "Memory" for p in pods for v in p.spec.volumes)
    events = kube.core.list_namespaced_event(ns).items
    assert not [e.message for e in events if e.reason == "FailedCreate"]
    for pod in pods:
        assert pod.spec.automount_service_account_token is False and pod.spec.service_account_name == WORKER_SA
        sc = pod.spec.security_context
        assert sc.run_as_non_root and sc.seccomp_profile.type == "RuntimeDefault"
        # Each admitted pod would be admitted again: a server-side dry run of its spec in the namespace.
        again = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"again-{pod.metadata.name}"[:63]},
                 "spec": kube.api.sanitize_for_serialization(pod.spec)}
        again["spec"].pop("nodeName", None)
        dry = kube.kubectl("create", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(again), check=False)
        assert dry.returncode == 0 and "Warning" not in dry.stderr, dry.stderr


# ---------------------------------------------------------------- 14: tenants stay apart
def _tenant_user(kube: Kube, ns: str) -> Path:
    """A user who may manage DataFoundryJobs in `ns` only (what the chart's aggregated edit role gives)."""
    name = "alice"
    manifests = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
         "rules": [{"apiGroups": [GROUP], "resources": [PLURAL],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                   {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
    ]
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    return token_kubeconfig(kube, ns, name)


def _act_as_kubelet_missing_secret(kube: Kube, pod: k8s.V1Pod, secret: str) -> None:
    """What a kubelet reports for a container whose secretKeyRef names a Secret missing from the pod's namespace."""
    container = pod.spec.containers[0]
    status = {"phase": "Pending", "containerStatuses": [{
        "name": container.name, "image": container.image, "imageID": "", "ready": False, "restartCount": 0,
        "started": False, "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                "message": f'secret "{secret}" not found'}}}]}
    kube.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})


def test_a_tenant_cannot_use_another_tenants_namespace_or_secret(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, second_namespace: str, operator: Operator
) -> None:
    tenant_a, tenant_b = job_namespace, second_namespace
    stolen = "tenant-b-s3"
    b_secret = kube.core.create_namespaced_secret(tenant_b, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=stolen), string_data={"AWS_ACCESS_KEY_ID": "tenant-b-key-id",
                                                             "AWS_SECRET_ACCESS_KEY": "tenant-b-secret-value"}))
    alice = _tenant_user(kube, tenant_a)
    assert not can_i(kube, alice, "create", "datafoundryjobs", tenant_b)
    assert not can_i(kube, alice, "get", "secrets", tenant_a)

    doc = curation_job("steal", s3, s3_prefix, secret=stolen)
    # Straight into B: refused by RBAC, whichever way the namespace is given.
    assert forbidden(as_user(kube, alice, "apply", "-n", tenant_b, "-f", "-", input=json.dumps(doc)))
    in_b = {**doc, "metadata": {"name": "steal", "namespace": tenant_b}}
    assert forbidden(as_user(kube, alice, "create", "-f", "-", input=json.dumps(in_b)))
    # A namespace in the Secret reference does not exist in the API: strict validation refuses it.
    with_ns = json.loads(json.dumps(doc))
    with_ns["spec"]["output"]["credentials"]["secretRef"]["namespace"] = tenant_b
    proc = as_user(kube, alice, "apply", "-n", tenant_a, "-f", "-", input=json.dumps(with_ns))
    assert proc.returncode != 0 and 'unknown field "spec.output.credentials.secretRef.namespace"' in proc.stderr

    # Naming B's Secret from A is accepted (the API cannot know), and resolves in A only.
    proc = as_user(kube, alice, "apply", "-n", tenant_a, "-f", "-", input=yaml.safe_dump(doc))
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 90
    while not (pods := kube.core.list_namespaced_pod(tenant_a, label_selector="datafoundry.io/job-name=steal").items):
        assert time.monotonic() < deadline, operator.log_tail()
        time.sleep(0.5)
    for pod in pods:
        refs = [e.value_from.secret_key_ref for e in pod.spec.containers[0].env
                if e.value_from and e.value_from.secret_key_ref]
        assert refs and {r.name for r in refs} == {stolen}  # a name only: the pod's own namespace
    assert not kube.batch.list_namespaced_job(tenant_b).items
    assert not kube.core.list_namespaced_pod(tenant_b).items
    assert [c.metadata.name for c in kube.core.list_namespaced_config_map(tenant_b).items] == ["kube-root-ca.crt"]

    # The kubelet cannot find the Secret in A: the job fails, naming the field and the namespace rule.
    for pod in pods:
        _act_as_kubelet_missing_secret(kube, pod, stolen)
    st = wait_phase(kube, tenant_a, "steal", "Failed", operator, timeout=60)
    failed = condition(st, "Failed")
    assert failed["reason"] == "PodConfigError", failed
    assert f'secret "{stolen}" not found' in failed["message"]
    assert "spec.output.credentials.secretRef.name" in failed["message"] and "job's namespace" in failed["message"]
    deadline = time.monotonic() + 60
    while [j for j in kube.batch.list_namespaced_job(tenant_a).items if not j.metadata.deletion_timestamp]:
        assert time.monotonic() < deadline, "the stuck child Jobs must be deleted"
        time.sleep(0.5)
    # B is untouched: its Secret unchanged, nothing created there, nothing written for the job.
    after = kube.core.read_namespaced_secret(stolen, tenant_b)
    assert after.metadata.resource_version == b_secret.metadata.resource_version
    assert not kube.batch.list_namespaced_job(tenant_b).items
    listed = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{s3_prefix}steal/")
    assert listed.get("KeyCount", 0) == 0
    # Test bed hygiene: kwok leaves a deleted pod that never ran with its Job-tracking finalizer (a
    # kubelet would report it terminated): drop it so the pods do not hold node capacity for ever.
    for pod in kube.core.list_namespaced_pod(tenant_a, label_selector="datafoundry.io/job-name=steal").items:
        kube.core.patch_namespaced_pod(pod.metadata.name, tenant_a, {"metadata": {"finalizers": None}})

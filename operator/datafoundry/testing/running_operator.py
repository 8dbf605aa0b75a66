"""The operator as users run it: its CRD installed, its own ServiceAccount with exactly the RBAC in
`datafoundry.controller.rbac`, a token for that ServiceAccount, and `datafoundry operator` as a
separate process. Never the admin identity: if the operator needs a permission the chart does not
grant, these tests fail.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import requests
import yaml
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.engines.server import free_port
from datafoundry.testing.testbed import REPO, S3, Kube

OPERATOR_NS = "datafoundry-system"
OPERATOR_SA = "datafoundry-operator"
WORKER_SA = "datafoundry-worker"
S3_SECRET = "datafoundry-s3"


def _die_with_parent() -> None:
    """A killed pytest must not leave an operator acting on the cluster (Linux: PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def created_children(messages: Iterable[str]) -> list[str]:
    """The children named by the operator's CreatedJob Events ("created Job a, Job b", one per pass)."""
    return [name for m in messages for name in m.removeprefix("created ").split(", ")]


def write_token_kubeconfig(kube: Kube, namespace: str, sa: str, path: Path) -> None:
    """A kubeconfig at `path` (mode 0600) that acts as ServiceAccount `sa` with a day-long token."""
    status = kube.core.create_namespaced_service_account_token(
        sa, namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
            audiences=[], expiration_seconds=24 * 3600))
    ).status
    assert status is not None, f"no token for ServiceAccount {namespace}/{sa}"
    token = status.token
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": kube.server,
                                                "certificate-authority": kube.api.configuration.ssl_ca_cert}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": sa}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)


@dataclass
class Operator:
    kube: Kube
    s3: S3
    kubeconfig: Path
    metrics_url: str
    health_url: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    #: More `datafoundry operator` flags (e.g. a chart's rendered --namespace/--peering args).
    extra_args: list[str] = field(default_factory=list)
    #: Environment on top of the defaults (e.g. a chart's rendered env).
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, kube: Kube, s3: S3, kubeconfig: Path, log_path: Path, **options: Any) -> Operator:
        """An operator serving metrics and health on free local ports, logging to `log_path` (its folder
        is created); `options` are the other fields (`extra_args`, `extra_env`)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return cls(kube=kube, s3=s3, kubeconfig=kubeconfig, metrics_url=f"http://127.0.0.1:{free_port()}/metrics",
                   health_url=f"http://127.0.0.1:{free_port()}/healthz", log_path=log_path, **options)

    def start(self) -> None:
        from datafoundry.controller.config import OperatorConfig  # noqa: F401  (import check only)

        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "DATAFOUNDRY_PROGRESS_INTERVAL_SECONDS": "2",
               "DATAFOUNDRY_GENERATOR_IMAGE": "example.invalid/datafoundry/generator:test",
               "DATAFOUNDRY_FILTER_IMAGE": "example.invalid/datafoundry/filter:test",
               # The operator's own S3 identity (live progress, staging cleanup), not the jobs' Secret.
               **{k: v for k, v in self.s3.env.items() if k.startswith("AWS_")},
               **self.extra_env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "datafoundry"), "operator",
             "--metrics-port", self.metrics_url.rsplit(":", 1)[1].split("/")[0],
             "--health-port", self.health_url.rsplit(":", 1)[1].split("/")[0], "--bind", "127.0.0.1",
             *self.extra_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(self.health_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"operator not healthy after 60s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a node failure or OOM would: no graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, n: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def metrics(self) -> str:
        return requests.get(self.metrics_url, timeout=5).text


def job_status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The DataFoundryJob's status, read from the API server ({} before the operator wrote one)."""
    obj = k8s.CustomObjectsApi(kube.api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return cast(dict[str, Any], obj).get("status") or {}


def install_crd(kube: Kube) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "datafoundryjob.yaml"))
    wait_established(kube, "datafoundryjobs.datafoundry.io")


def wait_established(kube: Kube, crd: str, timeout: float = 60) -> None:
    # `kubectl wait` fails at once ("accessor error") on a CRD the API server has not given a status yet.
    deadline = time.monotonic() + timeout
    while True:
        proc = kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", f"--timeout={int(timeout)}s",
                            check=False, timeout=timeout + 30)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"CRD {crd} not Established: {proc.stderr}")
        time.sleep(0.3)


def setup_operator_rbac(kube: Kube, peering: bool = False) -> Path:
    """The operator's ServiceAccount, ClusterRole and binding; returns a kubeconfig with its token.

    With `peering`, a separate identity (`datafoundry-operator-peering`) that also holds kopf's peering
    rules, as the chart grants when replicas run with --peering."""
    from datafoundry.controller.rbac import cluster_role

    name = "datafoundry-operator-peering" if peering else "datafoundry-operator"
    sa = f"{OPERATOR_SA}-peering" if peering else OPERATOR_SA
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": OPERATOR_NS}},
        cluster_role(name, peering=peering),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": OPERATOR_NS}]},
    ]
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    path = Path(tempfile.mkdtemp(prefix="df-operator-")) / "kubeconfig"
    write_token_kubeconfig(kube, OPERATOR_NS, sa, path)
    return path


def setup_peering(kube: Kube, prefix: str) -> tuple[str, Path]:
    """kopf's peering CRDs, a fresh ClusterKopfPeering named `prefix-<random>` and the peering identity
    (`setup_operator_rbac(peering=True)`): (the peering's name, the kubeconfig its replicas use)."""
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "charts" / "datafoundry" / "crds" / "kopf-peering.yaml"))
    for crd in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        wait_established(kube, crd)
    peering = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}}))
    return peering, setup_operator_rbac(kube, peering=True)


def prepare_job_namespace(kube: Kube, s3: S3, namespace: str) -> None:
    """A namespace ready for DataFoundryJobs: the worker ServiceAccount and an S3 credentials Secret."""
    kube.core.create_namespaced_service_account(
        namespace,
        k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=WORKER_SA), automount_service_account_token=False),
    )
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    data: dict[str, bytes | str] = {k: base64.b64encode(s3.env[k].encode()).decode() for k in keys}
    kube.core.create_namespaced_secret(namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=S3_SECRET), data=data))

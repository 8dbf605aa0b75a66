"""Clients for the test bed: the real Kubernetes control plane and S3 that `hack/local-up.sh up` starts.

`REPO` is the checkout this package runs from (an editable install or PYTHONPATH=operator): the
test bed, its scripts and the operator's CRD live there. The pytest session fixtures that start
and stop the test bed are in tests/fixtures/cluster.py.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

REPO = Path(__file__).resolve().parents[3]
TEST_LOCAL_DIR = REPO / ".local" / "test"


@dataclass
class Kube:
    """Admin access to the test bed's API server."""

    kubeconfig: Path
    kubectl_bin: str
    api: k8s.ApiClient = field(repr=False)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the test bed; raises with stderr when `check` and it fails."""
        proc = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self.api)

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)


@dataclass
class S3:
    """A bucket on the test bed's S3 endpoint and the credentials that own it."""

    env: dict[str, str]
    client: Any = field(repr=False)

    @property
    def bucket(self) -> str:
        return self.env["S3_BUCKET"]

    @property
    def endpoint_url(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    def make_client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret_key or self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (an s3.env file) as a dict."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def connect_kube(kubeconfig: Path, kubectl: str) -> Kube:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return Kube(kubeconfig=kubeconfig, kubectl_bin=kubectl, api=api)


def connect_s3(s3_env: Path) -> S3:
    store = S3(env=read_env_file(s3_env), client=None)
    store.client = store.make_client()
    return store


def connect_local(local_dir: Path) -> tuple[Kube, S3]:
    """Clients for a test bed that `hack/local-up.sh up` started in `local_dir` (scripts in hack/)."""
    return connect_kube(local_dir / "kubeconfig", str(local_dir / "kubectl")), connect_s3(local_dir / "s3.env")


@contextlib.contextmanager
def fresh_namespace(kube: Kube) -> Iterator[str]:
    """A new namespace, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    # ServiceAccount admission refuses pods until the controller manager made `default`.
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)

"""Kueue on the test bed: the real controller that `hack/build-kueue.sh` builds, run as a local process
against the test bed's API server, with its webhooks reachable on loopback.

A Kueue install normally gets a Service in front of its webhook server and certificates from its own
cert rotator (or cert-manager). Here the API server calls `https://127.0.0.1:<port>/<path>` directly:
a self-signed certificate for IP 127.0.0.1 (openssl) serves the webhooks, the webhook configurations
and the CRDs' conversion webhooks carry its CA bundle, and `internalCertManagement` is off. Only the
batch/Job integration is enabled, and only the webhooks that serve it and Kueue's own kinds are
registered: a registered webhook that no server answers (failurePolicy Fail) would refuse every
Pod or Deployment of the cluster.

The CRDs and webhook manifests are the module's own (`config/components/{crd,webhook}`), copied next
to the binary by the build script, so they always match the binary.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from datafoundry.engines.server import free_port, tail
from datafoundry.testing.running_operator import wait_established
from datafoundry.testing.testbed import REPO, Kube

#: The only namespace Kueue itself needs (its configuration names one; nothing runs there).
KUEUE_NAMESPACE = "kueue-system"
MUTATING = "kueue-mutating-webhook-configuration"
VALIDATING = "kueue-validating-webhook-configuration"
_KINDS = {"MutatingWebhookConfiguration": MUTATING, "ValidatingWebhookConfiguration": VALIDATING}


def _serves(webhook: Mapping[str, Any]) -> bool:
    """A webhook for batch Jobs or for Kueue's own kinds (the ones the batch/job integration needs)."""
    for rule in webhook.get("rules") or []:
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        if "kueue.x-k8s.io" in groups or ("batch" in groups and "jobs" in resources):
            return True
    return False


def loopback_webhooks(manifests: Iterable[Mapping[str, Any]], port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """Kueue's webhook configurations (config/components/webhook/manifests.yaml), reduced to the webhooks
    for batch Jobs and Kueue's kinds, each calling https://127.0.0.1:`port` at its path with `ca_pem`."""
    bundle = base64.b64encode(ca_pem).decode()
    out = []
    for doc in manifests:
        if not doc or doc.get("kind") not in _KINDS:
            continue
        conf = copy.deepcopy(dict(doc))
        conf["metadata"] = {"name": _KINDS[conf["kind"]]}
        hooks = [h for h in conf.get("webhooks") or [] if _serves(h)]
        for hook in hooks:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle}
        conf["webhooks"] = hooks
        out.append(conf)
    return out


def loopback_crds(crds: Iterable[Mapping[str, Any]], converted: Iterable[str], port: int,
                  ca_pem: bytes) -> list[dict[str, Any]]:
    """Kueue's CRDs, those named in `converted` with a conversion webhook at https://127.0.0.1:`port`/convert
    (what upstream's kustomize patches `webhook_in_*.yaml` do with a Service)."""
    names = set(converted)
    out = []
    for doc in crds:
        crd = copy.deepcopy(dict(doc))
        if crd["metadata"]["name"] in names:
            crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": f"https://127.0.0.1:{port}/convert",
                                 "caBundle": base64.b64encode(ca_pem).decode()}}}
        out.append(crd)
    return out


def converted_crds(kustomization: Mapping[str, Any], patches: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The CRD names upstream's crd/kustomization.yaml gives a conversion webhook: the targets of its
    `patches` whose body sets `spec.conversion.strategy: Webhook` (`patches` maps a path to its body)."""
    names = []
    for entry in kustomization.get("patches") or []:
        body = patches.get(entry.get("path", ""))
        if body and ((body.get("spec") or {}).get("conversion") or {}).get("strategy") == "Webhook":
            names.append(body["metadata"]["name"])
    return names


def configuration(webhook_port: int, health_port: int, metrics_port: int, cert_dir: Path) -> dict[str, Any]:
    """Kueue's Configuration for the test bed: loopback only, no leader election, certificates given."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": KUEUE_NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {"port": webhook_port, "host": "127.0.0.1", "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "integrations": {"frameworks": ["batch/job"]},
    }


def build() -> Path:
    """The cached Kueue folder (bin/kueue, config/); builds it on first use."""
    proc = subprocess.run([str(REPO / "hack" / "build-kueue.sh")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"hack/build-kueue.sh failed:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def self_signed_cert(folder: Path) -> bytes:
    """tls.crt/tls.key in `folder` for IP 127.0.0.1; returns the certificate (its own CA)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kueue-webhook",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt")],
        check=True, capture_output=True)
    return (folder / "tls.crt").read_bytes()


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _apply(kube: Kube, docs: list[dict[str, Any]]) -> None:
    # Server-side: the Workload CRD is too large for client-side apply's last-applied annotation.
    kube.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=datafoundry-testbed", "-f", "-",
                 input=yaml.safe_dump_all(docs))


@dataclass
class Kueue:
    """A running Kueue controller; `stop()` unregisters its webhooks first, then ends the process."""

    kube: Kube
    proc: subprocess.Popen[bytes]
    log: Path
    webhook_port: int
    health_port: int

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        # Webhooks with failurePolicy Fail and nobody answering would refuse every Job of later tests.
        for kind, name in (("mutatingwebhookconfiguration", MUTATING), ("validatingwebhookconfiguration", VALIDATING)):
            self.kube.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start(kube: Kube, workdir: Path, timeout: float = 120) -> Kueue:
    """Install Kueue's CRDs and webhooks on the test bed and start its controller; returns once the
    controller is ready and its webhooks answer."""
    folder = build()
    workdir.mkdir(parents=True, exist_ok=True)
    cert_dir = workdir / "certs"
    ca = self_signed_cert(cert_dir)
    webhook_port, health_port, metrics_port = free_port(), free_port(), free_port()
    crd_dir = folder / "config" / "crd"
    kustomization = yaml.safe_load((crd_dir / "kustomization.yaml").read_text())
    patches = {e["path"]: yaml.safe_load((crd_dir / e["path"]).read_text())
               for e in kustomization.get("patches") or [] if (crd_dir / e.get("path", "")).is_file()}
    crds = [d for f in sorted((crd_dir / "bases").glob("*.yaml")) for d in _load_all(f)]
    crds = loopback_crds(crds, converted_crds(kustomization, patches), webhook_port, ca)
    _apply(kube, crds)
    for crd in crds:
        wait_established(kube, crd["metadata"]["name"])
    kube.kubectl("create", "namespace", KUEUE_NAMESPACE, check=False)
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(configuration(webhook_port, health_port, metrics_port, cert_dir)))
    log = workdir / "kueue.log"
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "KUEUE_METRICS_CERT_DIR": str(cert_dir)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(folder / "bin" / "kueue"), f"--config={config}", "--feature-gates=VisibilityOnDemand=false",
             "--zap-log-level=2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    kueue = Kueue(kube=kube, proc=proc, log=log, webhook_port=webhook_port, health_port=health_port)
    try:
        deadline = time.monotonic() + timeout
        while not kueue.ready():
            if proc.poll() is not None:
                raise RuntimeError(f"kueue exited ({proc.returncode}):\n{kueue.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"kueue not ready after {timeout}s:\n{kueue.log_tail()}")
            time.sleep(0.5)
        _apply(kube, loopback_webhooks(_load_all(folder / "config" / "webhook" / "manifests.yaml"), webhook_port, ca))
    except BaseException:
        kueue.stop()
        raise
    return kueue


@contextlib.contextmanager
def running(kube: Kube, workdir: Path) -> Iterator[Kueue]:
    kueue = start(kube, workdir)
    try:
        yield kueue
    finally:
        kueue.stop()

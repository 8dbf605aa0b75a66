"""A test-only kubelet for kwok nodes: runs worker pods' real command, args and env as local processes.

kwok makes pods Running but executes nothing. For pods the operator creates (label
`datafoundry.io/job-uid`), this runner does what a kubelet would: resolves the environment
(values, Secret and ConfigMap keys, envFrom ConfigMaps and Secrets, the completion-index field
reference), materialises ConfigMap/Secret/emptyDir volumes into a temp dir, maps a
PersistentVolumeClaim to `pvc_root/<claimName>` (one folder per claim, shared by every pod that
mounts it, as a ReadWriteMany volume would be) and maps their mount paths, runs the
container's args with a local entrypoint, and writes the outcome (phase, exit code, termination
message) into the pod's status. The real Job controller and the operator then react exactly as
on a cluster. A pod deleted while its process runs gets the process killed. A deleted node takes
its pods' processes with it and reports nothing (its kubelet is gone); the pod garbage collector
then deletes the pods. `kill()` SIGKILLs a pod's process as an OOM kill would: the pod fails with
exit code 137 and the Job controller retries it.

Local processes share one network: `services` stands in for cluster DNS and Service routing, so a
pod's `name.ns.svc:port` in its args and env reaches the local `host:port` behind it. Another
`label_selector` runs other pods the same way (the chart's `helm test` Pod).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kubernetes import client as k8s
from kubernetes import watch

from datafoundry.api.keys import LABEL_JOB_UID
from datafoundry.engines.server import free_port
from datafoundry.testing.testbed import REPO, Kube

CONTRACT_WORKER = [str(REPO / ".venv" / "bin" / "python"), "-m", "datafoundry.testing.contract_worker"]
REAL_WORKER = [str(REPO / ".venv" / "bin" / "datafoundry")]
_T = TypeVar("_T")


@dataclass
class Run:
    namespace: str
    pod: str
    args: list[str]
    exit_code: int | None = None
    message: str = ""
    metrics_port: int | None = None
    started: float = field(default_factory=time.monotonic)
    #: When the process started, as a kubelet reports a container's startedAt (RFC 3339, seconds).
    started_at: str = field(default_factory=lambda: _rfc3339(time.time()))
    finished: float | None = None
    node: str = ""
    #: The environment the process got (what the kubelet resolved, before local path mapping).
    env: dict[str, str] = field(default_factory=dict)


class PodRunner:
    def __init__(self, kube: Kube, entrypoint: Sequence[str], extra_env: Mapping[str, str] | None = None,
                 max_parallel: int = 4, pvc_root: Path | None = None, label_selector: str = LABEL_JOB_UID,
                 services: Mapping[str, str] | None = None) -> None:
        self.kube = kube
        self.label_selector = label_selector
        #: `name.ns.svc:port` -> local `host:port`, replaced in args and env values.
        self.services = dict(services or {})
        self.entrypoint = list(entrypoint)
        self.extra_env = dict(extra_env or {})
        self.runs: list[Run] = []
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_parallel)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._node_thread = threading.Thread(target=self._watch_nodes, daemon=True)
        self._deleted: set[tuple[str, str]] = set()  # pods deleted (perhaps before their process started)
        self._workdir = Path(tempfile.mkdtemp(prefix="podrunner-"))
        #: PersistentVolumeClaim `c` is the folder `pvc_root / c` (a test puts a model there first).
        self.pvc_root = pvc_root or self._workdir / "pvc"
        self.paused = threading.Event()  # set: new pods wait (tests that kill things mid-flight)
        #: Called as each process starts (e.g. to point Prometheus at its metrics port).
        self.on_start: Callable[[Run], None] | None = None

    def start(self) -> PodRunner:
        self._thread.start()
        self._node_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for proc in self._procs.values():
                _kill(proc)

    # -- watching ------------------------------------------------------------------------
    def _watch(self) -> None:
        core = self.kube.core
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    core.list_pod_for_all_namespaces, label_selector=self.label_selector, timeout_seconds=30
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._on_event(event["type"], event["object"])
            except Exception:  # the API server may restart in fault tests; watch again
                time.sleep(0.5)

    def _watch_nodes(self) -> None:
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(self.kube.core.list_node, timeout_seconds=30)
                for event in stream:
                    if self._stop.is_set():
                        return
                    if event["type"] == "DELETED":
                        self._node_lost(event["object"].metadata.name)
            except Exception:  # the API server may restart in fault tests; watch again
                time.sleep(0.5)

    def _node_lost(self, node: str) -> None:
        """A node is gone, and with it its kubelet: its pods' processes die and nobody reports."""
        with self._lock:
            keys = [(r.namespace, r.pod) for r in self.runs if r.node == node and r.finished is None]
            procs = [(k, self._procs.pop(k)) for k in keys if k in self._procs]
        for _, proc in procs:
            _kill(proc)

    def kill(self, namespace: str, pod: str) -> bool:
        """SIGKILL the pod's process (the pod stays and fails with 137); False if none runs."""
        with self._lock:
            proc = self._procs.get((namespace, pod))
        if proc is None:
            return False
        _kill(proc)
        return True

    def _on_event(self, kind: str, pod: k8s.V1Pod) -> None:
        key = (pod.metadata.namespace, pod.metadata.name)
        if kind == "DELETED" or pod.metadata.deletion_timestamp:
            with self._lock:
                self._deleted.add(key)
                proc = self._procs.pop(key, None)
            if proc is not None:
                _kill(proc)
            return
        if pod.status.phase != "Running" or not pod.spec.node_name:
            return
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        threading.Thread(target=self._run_pod, args=(pod,), daemon=True).start()

    # -- running -------------------------------------------------------------------------
    def _run_pod(self, pod: k8s.V1Pod) -> None:
        with self._slots:
            while self.paused.is_set() and not self._stop.is_set():
                time.sleep(0.2)
            ns, name = pod.metadata.namespace, pod.metadata.name
            with self._lock:
                if self._stop.is_set() or (ns, name) in self._deleted:
                    return  # deleted while it waited (a suspended Job): never started
            container = pod.spec.containers[0]
            root = self._workdir / ns / name
            # The API server may be restarting (fault tests): keep trying as a kubelet would.
            mounts, pod_env = _retry(lambda: (self._materialise(pod, root), self._env(pod, container)))
            # Only the pod's own paths are mapped; ours below already point at local folders.
            env = {k: self._map_services(_map_path(v, mounts)) for k, v in {**pod_env, **self.extra_env}.items()}
            args = [self._map_services(_map_path(a, mounts)) for a in container.args or []]
            term = root / "termination-log"
            env["DATAFOUNDRY_TERMINATION_LOG"] = str(term)
            metrics_port = None
            if "DATAFOUNDRY_METRICS_PORT" in env:
                # Pods each have their own network namespace; local processes share one: give each a port.
                metrics_port = free_port()
                env["DATAFOUNDRY_METRICS_PORT"] = str(metrics_port)
                # Nothing scrapes a test pod unless a test says so (extra_env): no wait for a last scrape.
                env.setdefault("DATAFOUNDRY_METRICS_LINGER_SECONDS", "0")
            env["TMPDIR"] = str(mounts.get("/tmp", root))
            env["PATH"] = os.environ.get("PATH", "")
            # This checkout's code, also where the virtualenv's editable install points at another one.
            env.setdefault("PYTHONPATH", str(REPO / "operator"))
            run = Run(ns, name, args, metrics_port=metrics_port, node=pod.spec.node_name or "", env=dict(pod_env))
            with self._lock:
                self.runs.append(run)
            root.mkdir(parents=True, exist_ok=True)  # a pod without volumes has no folder yet
            log = (root / "log").open("wb")
            proc = subprocess.Popen([*self.entrypoint, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=str(root), start_new_session=True)
            with self._lock:
                self._procs[(ns, name)] = proc
                if (ns, name) in self._deleted:  # deleted while it was being started
                    _kill(self._procs.pop((ns, name)))
            if self.on_start is not None:
                self.on_start(run)
            code = proc.wait()
            log.close()
            if code < 0:
                code = 128 - code  # killed by a signal: what a container runtime reports (137 for SIGKILL)
            with self._lock:
                killed = self._procs.pop((ns, name), None) is None
            run.exit_code, run.finished = code, time.monotonic()
            if killed or self._stop.is_set():
                return  # deleted under us, or its node is gone: nobody to report to
            message = term.read_text()[-4096:] if term.exists() else ""
            if not message and code != 0:
                message = (root / "log").read_text(errors="replace")[-2048:]
            run.message = message
            self._report(pod, container.name, container.image, code, message, run.started_at)

    def _report(self, pod: k8s.V1Pod, container: str, image: str, code: int, message: str,
                started_at: str) -> None:
        now = _rfc3339(time.time())
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"},
                           {"type": "ContainersReady", "status": "False", "reason": "PodCompleted"}],
            "containerStatuses": [{
                "name": container, "image": image, "imageID": "", "ready": False, "restartCount": 0,
                "started": False,
                "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "message": message, "startedAt": started_at, "finishedAt": now}},
            }],
        }
        deadline = time.monotonic() + 120  # long enough to ride out an API server restart
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                self.kube.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                                           {"status": status})
                return
            except k8s.ApiException as e:
                if e.status == 404:
                    return
                time.sleep(0.5)
            except Exception:  # connection refused while the API server restarts
                time.sleep(0.5)

    def _env(self, pod: k8s.V1Pod, container: k8s.V1Container) -> dict[str, str]:
        out: dict[str, str] = {}
        ns = pod.metadata.namespace
        for source in container.env_from or []:  # first: a variable of `env` overrides one of envFrom
            prefix = source.prefix or ""
            if source.config_map_ref is not None:
                data = self.kube.core.read_namespaced_config_map(source.config_map_ref.name, ns).data or {}
                out.update({prefix + k: str(v) for k, v in data.items()})
            elif source.secret_ref is not None:
                secret = self.kube.core.read_namespaced_secret(source.secret_ref.name, ns).data or {}
                out.update({prefix + k: base64.b64decode(v).decode() for k, v in secret.items()})
        for var in container.env or []:
            if var.value is not None:
                out[var.name] = var.value
            elif var.value_from is not None:
                out[var.name] = self._resolve(pod, var.value_from)
        return out

    def _resolve(self, pod: k8s.V1Pod, source: k8s.V1EnvVarSource) -> str:
        ns = pod.metadata.namespace
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            secret = self.kube.core.read_namespaced_secret(ref.name, ns)
            return base64.b64decode(secret.data[ref.key]).decode()
        if source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            return str(self.kube.core.read_namespaced_config_map(ref.name, ns).data[ref.key])
        if source.field_ref is not None:
            path = source.field_ref.field_path
            if path.startswith("metadata.annotations['"):
                return str(pod.metadata.annotations[path.split("'")[1]])
            if path.startswith("metadata.labels['"):
                return str(pod.metadata.labels[path.split("'")[1]])
            return {"metadata.name": pod.metadata.name, "metadata.namespace": ns}.get(path, "")
        raise ValueError(f"unsupported env source in pod {pod.metadata.name}: {source}")

    def _materialise(self, pod: k8s.V1Pod, root: Path) -> dict[str, Path]:
        """Volumes to local folders; returns mountPath -> folder."""
        folders: dict[str, Path] = {}
        for vol in pod.spec.volumes or []:
            folder = root / "volumes" / vol.name
            if vol.persistent_volume_claim is not None:
                folder = self.pvc_root / vol.persistent_volume_claim.claim_name
            folder.mkdir(parents=True, exist_ok=True)
            if vol.config_map is not None:
                data = self.kube.core.read_namespaced_config_map(vol.config_map.name, pod.metadata.namespace).data
                for key, value in (data or {}).items():
                    (folder / key).write_text(value)
            elif vol.secret is not None:
                secret = self.kube.core.read_namespaced_secret(vol.secret.secret_name, pod.metadata.namespace)
                for item in vol.secret.items or [k8s.V1KeyToPath(key=k, path=k) for k in secret.data]:
                    (folder / item.path).write_bytes(base64.b64decode(secret.data[item.key]))
            folders[vol.name] = folder
        mounts: dict[str, Path] = {}
        for m in pod.spec.containers[0].volume_mounts or []:
            if m.name in folders:
                mounts[m.mount_path] = folders[m.name]
        return mounts

    def _map_services(self, value: str) -> str:
        for service, local in self.services.items():
            value = value.replace(service, local)
        return value

    def find(self, pod_prefix: str) -> list[Run]:
        with self._lock:
            return [r for r in self.runs if r.pod.startswith(pod_prefix)]


def _retry(fn: Callable[[], _T], timeout: float = 120) -> _T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception as e:
            if isinstance(e, k8s.ApiException) and e.status is not None and e.status < 500 and e.status != 429:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _map_path(value: str, mounts: Mapping[str, Path]) -> str:
    for mount, folder in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        if value == mount or value.startswith(mount + "/"):
            return str(folder) + value[len(mount):]
    return value


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)

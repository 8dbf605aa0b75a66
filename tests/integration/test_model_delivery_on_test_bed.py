"""Models reach the generator pods the way clusters deliver them, on the test bed (real API server,
scheduler, PersistentVolume binder, SeaweedFS):

- an s3:// model streams to disk with bounded memory (measured in a subprocess), resumes after a
  kill, is checked, and a second run downloads nothing (no GET reaches S3);
- a pvc:// model: the claim is mounted read-only and the in-pod vLLM engine generates from it;
- `generator.modelCache.claimName`: the second shard finds the model in the shared cache and
  downloads nothing (GETs counted by a proxy in front of S3);
- Hugging Face token and endpoint, `spec.workers.env`/`envFrom` and the chart's `workers.env`/`envFrom`
  reach every worker process, Secrets only through secretKeyRef (never a literal, the plan, the log).

The test pod runner maps a PersistentVolumeClaim to a local folder per claim (the PersistentVolume's
hostPath), shared by every pod that mounts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from boto3.s3.transfer import TransferConfig
from kubernetes import client as k8s
from test_chart import deployment_container, helm, render  # noqa: F401 - `helm` is a fixture

from datafoundry.api.meta import GROUP, VERSION
from datafoundry.engines.server import vllm_cpu_env
from datafoundry.testing.podrunner import CONTRACT_WORKER, REAL_WORKER, PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator, job_status
from datafoundry.testing.testbed import REPO, S3, Kube
from fixtures.s3proxy import S3FaultProxy

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
LARGE_BYTES = 320 * MiB
LARGE_NAME = "zz-weights.bin"  # listed after the tiny model's files
PROBE = Path(__file__).with_name("model_download_probe.py")
SEEDS = [
    {"instruction": "How do I restart a deployment?", "response": "Run kubectl rollout restart deployment/NAME."},
    {"instruction": "What is a pod?", "response": "The smallest deployable unit: one or more containers."},
]
HF_TOKEN = "hf_test_token_0f3a9c"  # test values that must never show up in the clear
PROXY_PASSWORD = "proxy-secret-5d81"
CORP_TOKEN = "corp-secret-77e2"
EXTRA_SECRET = "extra-secret-1c4b"
SECRETS = (HF_TOKEN, PROXY_PASSWORD, CORP_TOKEN, EXTRA_SECRET)
CHART_WORKERS = {
    "env": [{"name": "HTTPS_PROXY", "value": "http://chart-proxy:3128"},
            {"name": "NO_PROXY", "value": "127.0.0.1,localhost"},  # the test bed's S3 and vLLM stay direct
            {"name": "SSL_CERT_FILE", "value": "/etc/ssl/certs/corp-ca.pem"},
            {"name": "CORP_TOKEN", "valueFrom": {"secretKeyRef": {"name": "corp-token", "key": "t"}}}],
    "envFrom": [{"configMapRef": {"name": "corp-proxy"}}],
}


# ------------------------------------------------------------------------------------ helpers
def s3_env(s3: S3, endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in s3.env.items() if k.startswith("AWS_")})
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env["PYTHONPATH"] = str(REPO / "operator")
    return env


def upload_model(s3: S3, prefix: str, model: Path, large: Path | None = None) -> dict[str, str]:
    """The model's files as objects under `prefix` (one part each), plus `large` as a multipart upload;
    returns relative name -> sha256."""
    sums = {}
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        rel = path.relative_to(model).as_posix()
        data = path.read_bytes()
        s3.client.put_object(Bucket=s3.bucket, Key=prefix + rel, Body=data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    if large is not None:
        s3.client.upload_file(str(large), s3.bucket, prefix + LARGE_NAME,
                              Config=TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=16 * MiB))
        sums[LARGE_NAME] = sha256_file(large)
    return sums


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    return path


def probe(uri: str, cache: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(PROBE), uri, str(cache)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def local_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*")
            if p.is_file() and not p.relative_to(root).as_posix().startswith(".datafoundry/")}


def bound_claim(kube: Kube, ns: str, claim: str, path: Path) -> str:
    """A PersistentVolume (hostPath `path`) and a claim bound to it by the controller manager's binder."""
    path.mkdir(parents=True, exist_ok=True)
    pv = f"{ns}-{claim}"
    kube.core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(path)},
                 "claimRef": {"namespace": ns, "name": claim}}})
    kube.core.create_namespaced_persistent_volume_claim(ns, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": pv,
                 "resources": {"requests": {"storage": "10Gi"}}}})
    deadline = time.monotonic() + 60
    while kube.core.read_namespaced_persistent_volume_claim(claim, ns).status.phase != "Bound":
        assert time.monotonic() < deadline, f"claim {claim} not bound"
        time.sleep(0.5)
    return pv


def generation_job(name: str, s3: S3, prefix: str, endpoint: str, **generator: Any) -> dict[str, Any]:
    """A small in-pod vLLM job. Short names: vLLM's IPC socket lives in the pod runner's per-pod /tmp
    folder, whose path must stay under the 107 bytes of a Unix socket path."""
    gen = {"shards": 1, "gpusPerShard": 0, "batchSize": 4, "maxModelLen": 1024, "dtype": "bfloat16",
           "sampling": {"maxTokens": 48, "temperature": 1.0, "seed": 5},
           "strategies": [{"name": "selfInstruct", "options": {"maxChars": 40}}],
           "screens": {"enabled": False}, **generator}  # the tiny random model: mechanics, not content
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": name},
            "spec": {"task": {"domain": "Kubernetes operations", "seeds": {"inline": SEEDS}},
                     "target": {"records": 4, "overgenerate": 1.5},
                     "generator": gen,
                     "output": {"uri": f"s3://{s3.bucket}/{prefix}{name}", "endpointURL": endpoint,
                                "credentials": {"secretRef": {"name": S3_SECRET}}}}}


def wait_done(kube: Kube, ns: str, name: str, op: Operator, runner: PodRunner, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = job_status(kube, ns, name)
        if st.get("phase") in ("Succeeded", "Failed"):
            return st
        time.sleep(1)
    runs = [(r.pod, r.exit_code, r.message[-500:]) for r in runner.runs]
    raise AssertionError(f"{name} did not finish: {st}\nruns: {runs}\noperator:\n{op.log_tail()}")


def succeeded(kube: Kube, ns: str, name: str, op: Operator, runner: PodRunner) -> dict[str, Any]:
    st = wait_done(kube, ns, name, op, runner)
    assert st["phase"] == "Succeeded", (
        f"{json.dumps(st, indent=1)[-3000:]}\nruns: {[(r.pod, r.exit_code, r.message[-800:]) for r in runner.runs]}")
    return st


def chart_refs(kube: Kube, ns: str) -> None:
    """What the chart's workers.env and workers.envFrom name, in a job's namespace (as a platform team
    provides it in every namespace: without it no worker container could start)."""
    secret(kube, ns, "corp-token", {"t": CORP_TOKEN})
    config_map(kube, ns, "corp-proxy", {"HTTP_PROXY": "http://corp-proxy:3128"})


def secret(kube: Kube, ns: str, name: str, data: dict[str, str]) -> None:
    kube.core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), data={
        k: base64.b64encode(v.encode()).decode() for k, v in data.items()}))


def config_map(kube: Kube, ns: str, name: str, data: dict[str, str]) -> None:
    kube.core.create_namespaced_config_map(ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name), data=data))


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def chart_operator(kube: Kube, s3: S3, operator_rbac: Path, helm: str) -> Iterator[Operator]:  # noqa: F811
    """The operator with the environment the chart renders for `workers.env` and `workers.envFrom`."""
    container = deployment_container(render(helm, {"workers": CHART_WORKERS}))
    chart_env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("DATAFOUNDRY_WORKER_ENV")}
    assert set(chart_env) == {"DATAFOUNDRY_WORKER_ENV", "DATAFOUNDRY_WORKER_ENV_FROM"}, container["env"]
    log = REPO / ".local" / "test" / "logs" / f"operator-models-{uuid.uuid4().hex[:6]}.log"
    op = Operator.on_free_ports(kube, s3, operator_rbac, log, extra_env=chart_env)
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def volumes(kube: Kube) -> Iterator[list[str]]:
    """PersistentVolumes a test creates (cluster-scoped: deleted afterwards)."""
    created: list[str] = []
    yield created
    for pv in created:
        kube.core.delete_persistent_volume(pv)


# ------------------------------------------------------------------------ s3:// streaming download
def test_s3_model_streams_with_bounded_memory_resumes_after_a_kill_and_is_reused(
    s3: S3, s3_prefix: str, tiny_model: Path, tmp_path: Path
) -> None:
    prefix = f"{s3_prefix}models/tiny/"
    sums = upload_model(s3, prefix, tiny_model, random_file(tmp_path / "large.bin", LARGE_BYTES))
    assert len(sums) >= 5
    uri = f"s3://{s3.bucket}/{prefix}"
    env = s3_env(s3)

    # A download killed in the middle of the large object: what is under a final name is complete.
    killed_cache = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(PROBE), uri, str(killed_cache)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    parts: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        parts = [p for p in killed_cache.rglob(f".{LARGE_NAME}.part-*") if p.stat().st_size > 32 * MiB]
        if parts:
            break
        time.sleep(0.05)
    assert parts and proc.poll() is None, f"never caught mid-download: {proc.poll()} {proc.communicate()[1][-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = next(p for p in killed_cache.iterdir() if p.is_dir())
    assert not (folder / LARGE_NAME).exists()
    assert not (folder / ".datafoundry" / f"{LARGE_NAME}.json").exists()
    done = local_files(folder)
    assert {k: v for k, v in done.items() if ".part-" not in k} == {k: v for k, v in sums.items() if k != LARGE_NAME}
    leftovers = [p for p in folder.iterdir() if ".part-" in p.name]
    assert leftovers
    for p in leftovers:  # as if the pod had died long ago: the next run clears its temporary files
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    resumed = probe(uri, killed_cache, env)
    assert (resumed["downloaded"], resumed["reused"]) == (1, len(sums) - 1), resumed
    assert local_files(folder) == sums  # and nothing else: the temporary files are gone

    # The whole model in a fresh cache: the peak memory stays far below the 300 MB object.
    cache = tmp_path / "cache"
    first = probe(uri, cache, env)
    assert (first["files"], first["downloaded"], first["reused"]) == (len(sums), len(sums), 0), first
    assert local_files(Path(first["path"])) == sums
    rise_mib = (first["after_kib"] - first["before_kib"]) / 1024
    print(f"\nstreamed {first['bytes'] / MiB:.0f} MiB in {first['seconds']} s; peak RSS "
          f"{first['before_kib'] / 1024:.0f} -> {first['after_kib'] / 1024:.0f} MiB (+{rise_mib:.0f} MiB) "
          f"for a {LARGE_BYTES // MiB} MiB object")
    assert rise_mib < LARGE_BYTES / MiB / 4, first

    # Run again (the next pod, shard or round): only a LIST reaches S3, no object is read.
    with S3FaultProxy(s3.endpoint_url) as proxy:
        again = probe(uri, cache, s3_env(s3, proxy.url))
    assert (again["downloaded"], again["reused"]) == (0, len(sums)), again
    reads = [(m, k) for m, k in proxy.requests if k.startswith(prefix)]
    assert not reads, reads
    assert [m for m, _ in proxy.requests] == ["GET"]  # the listing

    # A changed object is downloaded again, a removed one leaves the cache.
    s3.client.put_object(Bucket=s3.bucket, Key=prefix + "config.json", Body=b'{"changed": true}')
    s3.client.delete_object(Bucket=s3.bucket, Key=prefix + LARGE_NAME)
    changed = probe(uri, cache, env)
    assert (changed["downloaded"], changed["removed"]) == (1, 1), changed
    assert (Path(changed["path"]) / "config.json").read_bytes() == b'{"changed": true}'
    assert not (Path(changed["path"]) / LARGE_NAME).exists()


# ------------------------------------------------------------------------------ pvc:// model
@pytest.mark.vllm
@pytest.mark.slow
def test_pvc_model_is_mounted_read_only_and_generates(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, chart_operator: Operator, tiny_model: Path,
    tmp_path: Path, volumes: list[str],
) -> None:
    ns = job_namespace
    pvc_root = tmp_path / "pvc"
    shutil.copytree(tiny_model, pvc_root / "models" / "tiny")
    volumes.append(bound_claim(kube, ns, "models", pvc_root / "models"))
    chart_refs(kube, ns)
    runner = PodRunner(kube, REAL_WORKER, extra_env=vllm_cpu_env({}), max_parallel=1, pvc_root=pvc_root).start()
    try:
        kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(
            generation_job("pv", s3, s3_prefix, s3.endpoint_url, model="pvc://models/tiny")))
        st = succeeded(kube, ns, "pv", chart_operator, runner)
    finally:
        runner.stop()
    assert st["output"]["records"] >= 4
    pod = kube.batch.read_namespaced_job("pv-gen-r0", ns).spec.template.spec
    (volume,) = [v for v in pod.volumes if v.name == "model"]
    assert volume.persistent_volume_claim.claim_name == "models" and volume.persistent_volume_claim.read_only
    (mount,) = [m for m in pod.containers[0].volume_mounts if m.name == "model"]
    assert (mount.mount_path, mount.read_only) == ("/models/models", True)
    gen_runs = [r for r in runner.runs if "-gen-" in r.pod]
    assert gen_runs and all(r.exit_code == 0 for r in gen_runs)
    assert gen_runs[0].env["DATAFOUNDRY_MODEL_CLAIM_DIR"] == "/models/models"


# ------------------------------------------------------------------- s3:// model, shared cache
@pytest.mark.vllm
@pytest.mark.slow
def test_second_shard_reuses_the_model_cache_claim_without_downloading(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, chart_operator: Operator, tiny_model: Path,
    tmp_path: Path, volumes: list[str],
) -> None:
    ns = job_namespace
    prefix = f"{s3_prefix}models/tiny/"
    sums = upload_model(s3, prefix, tiny_model)
    pvc_root = tmp_path / "pvc"
    volumes.append(bound_claim(kube, ns, "model-cache", pvc_root / "model-cache"))
    chart_refs(kube, ns)
    runner = PodRunner(kube, REAL_WORKER, extra_env=vllm_cpu_env({}), max_parallel=1, pvc_root=pvc_root).start()
    try:
        with S3FaultProxy(s3.endpoint_url) as proxy:
            # Two shards one after the other: the second finds the first's download.
            job = generation_job("sc", s3, s3_prefix, proxy.url, model=f"s3://{s3.bucket}/{prefix}",
                                 shards=2, parallelism=1, modelCache={"claimName": "model-cache"})
            kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(job))
            succeeded(kube, ns, "sc", chart_operator, runner)
    finally:
        runner.stop()
    gets: dict[str, int] = {}
    for method, key in proxy.requests:
        if method == "GET" and key.startswith(prefix):
            gets[key] = gets.get(key, 0) + 1
    assert gets == {prefix + rel: 1 for rel in sums}, gets  # each object read once, by the first shard
    gen_runs = sorted((r for r in runner.runs if "-gen-" in r.pod), key=lambda r: r.started)
    assert len(gen_runs) == 2 and all(r.exit_code == 0 for r in gen_runs)
    assert gen_runs[0].finished is not None and gen_runs[0].finished <= gen_runs[1].started
    (folder,) = [p for p in (pvc_root / "model-cache" / "s3").iterdir() if p.is_dir()]
    assert local_files(folder) == sums
    pod = kube.batch.read_namespaced_job("sc-gen-r0", ns).spec.template.spec
    (volume,) = [v for v in pod.volumes if v.name == "model-cache"]
    assert volume.persistent_volume_claim.claim_name == "model-cache"
    assert not volume.persistent_volume_claim.read_only
    assert {"name": "DATAFOUNDRY_MODEL_CACHE", "value": "/var/cache/datafoundry/models/s3"} in [
        {"name": e.name, "value": e.value} for e in pod.containers[0].env]


# --------------------------------------------------------- Hugging Face and worker environment
def test_hugging_face_settings_and_worker_env_reach_every_worker_secrets_by_reference(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, chart_operator: Operator,
) -> None:
    ns = job_namespace
    secret(kube, ns, "hf-token", {"token": HF_TOKEN})
    secret(kube, ns, "proxy-credentials", {"password": PROXY_PASSWORD})
    chart_refs(kube, ns)
    secret(kube, ns, "extra", {"EXTRA_SECRET": EXTRA_SECRET})
    # Real proxy variables: the workers reach S3 (127.0.0.1) directly only because of NO_PROXY.
    config_map(kube, ns, "proxy-settings", {"no-proxy": "127.0.0.1,localhost,.svc,.cluster.local"})
    config_map(kube, ns, "ca-settings", {"BUNDLE": "/etc/ssl/certs/team.pem"})
    job = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": "envjob"},
           "spec": {"task": {"domain": "Kubernetes operations", "seeds": {"inline": SEEDS}},
                    "target": {"records": 8, "overgenerate": 1.5},
                    "generator": {"model": "org/tiny", "shards": 2, "gpusPerShard": 1,
                                  "huggingFace": {"tokenSecretRef": {"name": "hf-token", "key": "token"},
                                                  "endpoint": "https://hf-mirror.example.com"},
                                  "modelCache": {"sizeLimit": "2Gi"}},
                    "workers": {"env": [{"name": "HTTPS_PROXY", "value": "http://team-proxy:3128"},
                                        {"name": "NO_PROXY", "valueFrom": {"configMapKeyRef": {
                                            "name": "proxy-settings", "key": "no-proxy"}}},
                                        {"name": "PROXY_PASSWORD", "valueFrom": {"secretKeyRef": {
                                            "name": "proxy-credentials", "key": "password"}}}],
                                "envFrom": [{"configMapRef": {"name": "ca-settings"}, "prefix": "TEAM_"},
                                            {"secretRef": {"name": "extra"}}]},
                    "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}envjob", "endpointURL": s3.endpoint_url,
                               "credentials": {"secretRef": {"name": S3_SECRET}}}}}
    runner = PodRunner(kube, CONTRACT_WORKER).start()
    try:
        kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
        succeeded(kube, ns, "envjob", chart_operator, runner)
    finally:
        runner.stop()

    stages = {r.pod.split("-")[1] for r in runner.runs}
    assert stages == {"gen", "filter", "dedup", "publish"}, [r.pod for r in runner.runs]
    for run in runner.runs:
        env = run.env
        assert env["HTTPS_PROXY"] == "http://team-proxy:3128", run.pod  # the job's value over the chart's
        assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/corp-ca.pem", run.pod  # the chart's env
        assert env["HTTP_PROXY"] == "http://corp-proxy:3128", run.pod  # the chart's envFrom
        assert env["CORP_TOKEN"] == CORP_TOKEN, run.pod
        assert env["NO_PROXY"] == "127.0.0.1,localhost,.svc,.cluster.local", run.pod
        assert env["PROXY_PASSWORD"] == PROXY_PASSWORD, run.pod
        assert env["TEAM_BUNDLE"] == "/etc/ssl/certs/team.pem", run.pod
        assert env["EXTRA_SECRET"] == EXTRA_SECRET, run.pod
        if "-gen-" in run.pod:
            assert env["HF_TOKEN"] == HF_TOKEN and env["HF_ENDPOINT"] == "https://hf-mirror.example.com"
            assert env["HF_HUB_CACHE"] == "/var/cache/datafoundry/models/huggingface"
        else:
            assert "HF_TOKEN" not in env, run.pod

    # In the API: references, never the values.
    for child in kube.batch.list_namespaced_job(ns).items:
        container = child.spec.template.spec.containers[0]
        text = json.dumps(kube.api.sanitize_for_serialization(child))
        assert not [s for s in SECRETS if s in text], child.metadata.name
        refs = {e.name: e.value_from.secret_key_ref for e in container.env
                if e.value_from is not None and e.value_from.secret_key_ref is not None}
        assert (refs["PROXY_PASSWORD"].name, refs["CORP_TOKEN"].name) == ("proxy-credentials", "corp-token")
        if child.metadata.name.startswith("envjob-gen-"):
            assert (refs["HF_TOKEN"].name, refs["HF_TOKEN"].key) == ("hf-token", "token")
            pod = child.spec.template.spec
            (cache,) = [v for v in pod.volumes if v.name == "model-cache"]
            assert cache.empty_dir.size_limit == "2Gi"
            assert container.resources.requests["ephemeral-storage"] == "2Gi"
    plan = kube.core.read_namespaced_config_map("envjob-plan", ns).data["plan.json"]
    assert not [s for s in SECRETS if s in plan]
    events = json.dumps(kube.api.sanitize_for_serialization(kube.core.list_namespaced_event(ns)))
    assert not [s for s in SECRETS if s in events]
    assert not [s for s in SECRETS if s in chart_operator.log_tail(10**7)]

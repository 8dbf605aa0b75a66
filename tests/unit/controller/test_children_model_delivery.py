"""How the model reaches the generator pods, and the environment every worker gets (pure logic):
the pod builder (`controller/children.py`) for pvc:// models, the model cache, Hugging Face settings
and `workers.env`/`envFrom` (spec and chart), the operator's chart-level settings, the spec's rules,
and the checks of the S3 model download (`engines/model.py`)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from datafoundry.api.errors import field_errors
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller.config import ConfigError, OperatorConfig
from datafoundry.controller.owner import Owner
from datafoundry.engines import model as m
from datafoundry.pipeline.contract import BadInput
from datafoundry.testing import specs

NAME, NS, UID = "demo", "team-a", "11111111-2222-3333-4444-555555555555"
OWNER = Owner(NS, NAME, UID)
TOKEN_REF = {"name": "hf", "key": "token"}


def make_spec(generator: dict[str, Any] | None = None, **fields: Any) -> DataFoundryJobSpec:
    """The minimal spec with `generator` merged into its generator section."""
    return specs.make_spec(generator={**specs.MINIMAL["generator"], **(generator or {})}, **fields)


def gen_pod(spec: DataFoundryJobSpec, config: OperatorConfig | None = None) -> dict[str, Any]:
    job = ch.generate_job(OWNER, spec, config or OperatorConfig(), 0, 10)
    return job["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def all_containers(spec: DataFoundryJobSpec, config: OperatorConfig | None = None) -> dict[str, dict[str, Any]]:
    config = config or OperatorConfig()
    jobs = [ch.generate_job(OWNER, spec, config, 0, 10), ch.filter_job(OWNER, spec, config, 0, 1),
            ch.dedup_job(OWNER, spec, config, 0), ch.publish_job(OWNER, spec, config, 1)]
    return {j["metadata"]["name"]: j["spec"]["template"]["spec"]["containers"][0] for j in jobs}


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate variables: {names}"
    return {e["name"]: e for e in container["env"]}


# ----------------------------------------------------------------------------- pvc:// models
def test_pvc_model_mounts_the_claim_read_only_at_a_fixed_path() -> None:
    pod = gen_pod(make_spec({"model": "pvc://models/llama/8b", "gpusPerShard": 1}))
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model"]
    assert volume == {"name": "model", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}
    container = pod["containers"][0]
    (mount,) = [mt for mt in container["volumeMounts"] if mt["name"] == "model"]
    assert mount == {"name": "model", "mountPath": "/models/models", "readOnly": True}
    assert env_of(container)["DATAFOUNDRY_MODEL_CLAIM_DIR"] == {"name": "DATAFOUNDRY_MODEL_CLAIM_DIR",
                                                                "value": "/models/models"}


def test_models_that_are_not_loaded_in_the_pod_mount_nothing() -> None:
    openai = {"model": "pvc://models/llama", "engine": {"type": "openai", "endpoint": "http://vllm:8000/v1"}}
    for gen in (openai, {"model": "org/tiny"}, {"model": "/opt/models/tiny"}):
        pod = gen_pod(make_spec(gen))
        assert {v["name"] for v in pod["volumes"]} <= {"plan", "tmp", "dshm"}, gen
        assert not {"DATAFOUNDRY_MODEL_CLAIM_DIR", "DATAFOUNDRY_MODEL_CACHE", "HF_HUB_CACHE"} & set(
            env_of(pod["containers"][0])), gen


def test_resolve_pvc_model_under_the_mounted_claim(tmp_path: Path) -> None:
    (tmp_path / "llama" / "8b").mkdir(parents=True)
    env = {"DATAFOUNDRY_MODEL_CLAIM_DIR": str(tmp_path)}
    assert m.resolve_model("pvc://models/llama/8b", env) == str(tmp_path / "llama" / "8b")
    assert m.resolve_model("pvc://models", env) == str(tmp_path)
    with pytest.raises(BadInput, match=r"pvc://models/missing: .*/missing does not exist"):
        m.resolve_model("pvc://models/missing", env)
    with pytest.raises(BadInput, match=r"'\.\.' path segment"):
        m.resolve_model("pvc://models/../../etc", env)
    # without the operator's variable, the fixed mount path
    with pytest.raises(BadInput, match="/models/models/llama does not exist"):
        m.resolve_model("pvc://models/llama", {})


# ----------------------------------------------------------------------------- the model cache
def test_s3_model_without_cache_downloads_into_the_pods_tmp() -> None:
    container = gen_pod(make_spec({"model": "s3://models/tiny/"}))["containers"][0]
    assert env_of(container)["DATAFOUNDRY_MODEL_CACHE"]["value"] == "/tmp/datafoundry-models"
    assert {mt["mountPath"] for mt in container["volumeMounts"]} >= {"/tmp"}


def test_model_cache_claim_is_mounted_read_write_and_shared() -> None:
    pod = gen_pod(make_spec({"model": "s3://models/tiny/", "modelCache": {"claimName": "model-cache"}}))
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model-cache"]
    assert volume == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "model-cache"}}
    container = pod["containers"][0]
    assert {"name": "model-cache", "mountPath": "/var/cache/datafoundry/models"} in container["volumeMounts"]
    assert env_of(container)["DATAFOUNDRY_MODEL_CACHE"]["value"] == "/var/cache/datafoundry/models/s3"
    assert "ephemeral-storage" not in container["resources"]["requests"]
    hf = gen_pod(make_spec({"model": "org/tiny", "modelCache": {"claimName": "model-cache"}}))["containers"][0]
    assert env_of(hf)["HF_HUB_CACHE"]["value"] == "/var/cache/datafoundry/models/huggingface"
    assert "DATAFOUNDRY_MODEL_CACHE" not in env_of(hf)


def test_model_cache_empty_dir_has_its_size_and_an_ephemeral_storage_request() -> None:
    pod = gen_pod(make_spec({"model": "s3://models/tiny/", "modelCache": {"sizeLimit": "40Gi"}}))
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model-cache"]
    assert volume == {"name": "model-cache", "emptyDir": {"sizeLimit": "40Gi"}}
    resources = pod["containers"][0]["resources"]
    assert resources["requests"]["ephemeral-storage"] == "40Gi"
    assert "ephemeral-storage" not in resources["limits"]
    # generator.resources decides when it names ephemeral-storage (a request never exceeds its limit)
    own = make_spec({"model": "s3://models/tiny/", "modelCache": {"sizeLimit": "40Gi"},
                     "resources": {"limits": {"ephemeral-storage": "30Gi"}}})
    resources = gen_pod(own)["containers"][0]["resources"]
    assert "ephemeral-storage" not in resources["requests"] and resources["limits"]["ephemeral-storage"] == "30Gi"


# ----------------------------------------------------------------------------- Hugging Face
def test_hugging_face_token_is_a_secret_reference_and_the_endpoint_a_value() -> None:
    spec = make_spec({"huggingFace": {"tokenSecretRef": TOKEN_REF, "endpoint": "https://hf-mirror.example.com"}})
    env = env_of(gen_pod(spec)["containers"][0])
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": TOKEN_REF}}
    assert env["HF_ENDPOINT"] == {"name": "HF_ENDPOINT", "value": "https://hf-mirror.example.com"}
    # only the generator loads the model
    for name, container in all_containers(spec).items():
        if "-gen-" not in name:
            assert not {"HF_TOKEN", "HF_ENDPOINT"} & set(env_of(container)), name


# ----------------------------------------------------------------------------- workers.env / envFrom
SPEC_WORKERS = {
    "env": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
            {"name": "NO_PROXY", "value": "from-spec"},
            {"name": "PROXY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "proxy", "key": "password"}}},
            {"name": "CORP_CA", "valueFrom": {"configMapKeyRef": {"name": "ca", "key": "ca.crt"}}},
            {"name": "AWS_ENDPOINT_URL", "value": "http://not-the-output"},
            {"name": "DATAFOUNDRY_ROUND", "value": "7"}],
    "envFrom": [{"configMapRef": {"name": "ca"}, "prefix": "CA_"}, {"secretRef": {"name": "more"}}],
}


def chart_config(**kw: Any) -> OperatorConfig:
    return OperatorConfig(
        worker_env=({"name": "NO_PROXY", "value": "from-chart"}, {"name": "SSL_CERT_FILE", "value": "/etc/ca/ca.crt"},
                    {"name": "CORP_TOKEN", "valueFrom": {"secretKeyRef": {"name": "corp", "key": "t"}}}),
        worker_env_from=({"configMapRef": {"name": "corp-proxy"}},), **kw)


def test_worker_env_reaches_every_worker_container_with_the_operators_names_kept() -> None:
    spec = make_spec(output={"uri": "s3://bucket/out", "endpointURL": "http://s3:8333",
                             "credentials": {"secretRef": {"name": "s3"}}}, workers=SPEC_WORKERS)
    containers = all_containers(spec, chart_config())
    assert len(containers) == 4
    for name, container in containers.items():
        env = env_of(container)
        assert env["HTTPS_PROXY"]["value"] == "http://proxy:3128", name
        assert env["NO_PROXY"]["value"] == "from-spec", name  # the spec's value replaces the chart's
        assert env["SSL_CERT_FILE"]["value"] == "/etc/ca/ca.crt", name  # the chart's alone
        assert env["PROXY_PASSWORD"] == {"name": "PROXY_PASSWORD",
                                         "valueFrom": {"secretKeyRef": {"name": "proxy", "key": "password"}}}
        assert env["CORP_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "corp", "key": "t"}}
        assert env["CORP_CA"]["valueFrom"] == {"configMapKeyRef": {"name": "ca", "key": "ca.crt"}}, name
        # names the operator sets keep the operator's value
        assert env["AWS_ENDPOINT_URL"]["value"] == "http://s3:8333", name
        assert env["DATAFOUNDRY_ROUND"]["value"] == "0", name
        assert container["envFrom"] == [{"configMapRef": {"name": "corp-proxy"}},
                                        {"configMapRef": {"name": "ca"}, "prefix": "CA_"},
                                        {"secretRef": {"name": "more"}}], name
    # the operator's variables come first, so that a worker variable may refer to them with $(NAME)
    gen = next(c for n, c in containers.items() if "-gen-" in n)
    names = [e["name"] for e in gen["env"]]
    assert names.index("DATAFOUNDRY_PLAN") < names.index("SSL_CERT_FILE") < names.index("HTTPS_PROXY")


def test_no_worker_env_leaves_the_containers_as_they_were() -> None:
    for container in all_containers(make_spec()).values():
        assert "envFrom" not in container
        assert not {"HTTPS_PROXY", "NO_PROXY"} & set(env_of(container))


def test_chart_worker_env_is_read_from_the_operators_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFOUNDRY_WORKER_ENV", json.dumps([
        {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]))
    monkeypatch.setenv("DATAFOUNDRY_WORKER_ENV_FROM", json.dumps([{"configMapRef": {"name": "ca"}, "prefix": "X_"}]))
    config = OperatorConfig.from_env()
    assert config.worker_env == ({"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                                 {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
    assert config.worker_env_from == ({"configMapRef": {"name": "ca"}, "prefix": "X_"},)
    monkeypatch.setenv("DATAFOUNDRY_WORKER_ENV", json.dumps([{"name": "A B", "value": "x"}]))
    with pytest.raises(ConfigError, match="DATAFOUNDRY_WORKER_ENV: not a list of Kubernetes EnvVar"):
        OperatorConfig.from_env()
    monkeypatch.setenv("DATAFOUNDRY_WORKER_ENV", "[{not json")
    with pytest.raises(ConfigError, match="DATAFOUNDRY_WORKER_ENV"):
        OperatorConfig.from_env()
    monkeypatch.delenv("DATAFOUNDRY_WORKER_ENV")
    monkeypatch.setenv("DATAFOUNDRY_WORKER_ENV_FROM", json.dumps([{"configMapRef": {"name": "a"},
                                                                   "secretRef": {"name": "b"}}]))
    with pytest.raises(ConfigError, match="DATAFOUNDRY_WORKER_ENV_FROM"):
        OperatorConfig.from_env()


# ----------------------------------------------------------------------------- the spec's rules
@pytest.mark.parametrize(("generator", "workers", "field"), [
    ({"model": "s3://models/x/", "modelCache": {}}, None, "generator.modelCache"),
    ({"model": "s3://models/x/", "modelCache": {"claimName": "c", "sizeLimit": "1Gi"}}, None, "generator.modelCache"),
    ({"model": "pvc://c/x", "modelCache": {"claimName": "c"}}, None, "generator.modelCache"),
    ({"model": "/opt/model", "modelCache": {"sizeLimit": "1Gi"}}, None, "generator.modelCache"),
    ({"model": "org/x", "modelCache": {"claimName": "c"},
      "engine": {"type": "openai", "endpoint": "http://vllm:8000/v1"}}, None, "generator.modelCache"),
    ({"model": "s3://models/x/", "huggingFace": {"endpoint": "https://hf.example.com"}}, None, "generator.huggingFace"),
    ({"model": "org/x", "huggingFace": {"tokenSecretRef": TOKEN_REF},
      "engine": {"type": "openai", "endpoint": "http://vllm:8000/v1"}}, None, "generator.huggingFace"),
    ({"model": "org/x", "huggingFace": {"endpoint": "ftp://hf"}}, None, "generator.huggingFace.endpoint"),
    (None, {"env": [{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": TOKEN_REF}}]},
     "workers.env[0].valueFrom"),
    (None, {"env": [{"name": "A", "valueFrom": {}}]}, "workers.env[0].valueFrom"),
    (None, {"env": [{"name": "1A", "value": "x"}]}, "workers.env[0].name"),
    (None, {"env": [{"name": "A", "value": "x"}, {"name": "A", "value": "y"}]}, "workers.env[1]"),
    (None, {"envFrom": [{"prefix": "P_"}]}, "workers.envFrom[0]"),
])
def test_model_and_worker_fields_refused_naming_the_field(
    generator: dict[str, Any] | None, workers: dict[str, Any] | None, field: str
) -> None:
    extra = {"workers": workers} if workers else {}
    with pytest.raises(ValidationError) as info:
        make_spec(generator, **extra)
    paths = [e.path for e in field_errors(info.value)]
    assert field in paths, paths


# ----------------------------------------------------------------------------- S3 download checks
OBJ = m.RemoteObject(key="models/tiny/config.json", rel="config.json", size=5, etag="")


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()  # what S3 ETags are


def test_downloads_are_checked_against_size_etag_and_sha256() -> None:
    data = b"hello"
    sha, md5 = digests(data)
    obj = OBJ.__class__(OBJ.key, OBJ.rel, 5, md5)
    m.verify(obj, {"ETag": f'"{md5}"'}, 5, sha, md5)  # a single-part upload: MD5 == ETag
    with pytest.raises(m.ModelDownloadError, match="downloaded 4 bytes, the object has 5"):
        m.verify(obj, {"ETag": f'"{md5}"'}, 4, sha, md5)
    other_sha, other_md5 = digests(b"hellp")
    with pytest.raises(m.ModelDownloadError, match=r"MD5 .* differs from the ETag"):
        m.verify(obj, {"ETag": f'"{md5}"'}, 5, other_sha, other_md5)
    with pytest.raises(m.ModelDownloadError, match="changed while it was downloaded"):
        m.verify(obj, {"ETag": '"0123456789abcdef0123456789abcdef"'}, 5, sha, md5)
    # multipart ETags and SSE-KMS ETags are no MD5 of the bytes: size only, unless a SHA-256 is kept
    multipart = obj.__class__(obj.key, obj.rel, 5, "0123456789abcdef0123456789abcdef-3")
    m.verify(multipart, {"ETag": f'"{multipart.etag}"'}, 5, other_sha, other_md5)
    kms = obj.__class__(obj.key, obj.rel, 5, "0123456789abcdef0123456789abcdef")
    m.verify(kms, {"ETag": f'"{kms.etag}"', "ServerSideEncryption": "aws:kms"}, 5, sha, md5)
    checksum = base64.b64encode(bytes.fromhex(sha)).decode()
    full = {"ETag": multipart.etag, "ChecksumSHA256": checksum, "ChecksumType": "FULL_OBJECT"}
    m.verify(multipart, full, 5, sha, md5)
    with pytest.raises(m.ModelDownloadError, match=r"SHA-256 .* differs from the object's checksum"):
        m.verify(multipart, {"ETag": multipart.etag, "ChecksumSHA256": checksum}, 5, other_sha, other_md5)
    # a composite checksum of parts is no SHA-256 of the whole file
    m.verify(multipart, {"ETag": multipart.etag, "ChecksumSHA256": checksum + "-3"}, 5, other_sha, other_md5)


def test_a_file_is_complete_only_with_its_record_size_and_etag(tmp_path: Path) -> None:
    obj = m.RemoteObject(key="p/config.json", rel="config.json", size=5, etag="abc")
    dest, record = tmp_path / "config.json", tmp_path / ".datafoundry" / "config.json.json"
    dest.write_bytes(b"hello")
    assert not m.complete(dest, record, obj)  # no record: a download that did not finish its bookkeeping
    record.parent.mkdir()
    record.write_text(json.dumps({"key": obj.key, "size": 5, "etag": "abc", "sha256": "00"}))
    assert m.complete(dest, record, obj)
    assert not m.complete(dest, record, m.RemoteObject(obj.key, obj.rel, 5, "new-etag"))  # the object changed
    dest.write_bytes(b"hell")
    assert not m.complete(dest, record, obj)  # truncated
    record.write_text("{")
    assert not m.complete(dest, record, obj)


def test_model_dir_is_one_folder_per_uri(tmp_path: Path) -> None:
    assert m.model_dir("s3://b/models/tiny/", tmp_path) == m.model_dir("s3://b/models/tiny", tmp_path)
    assert m.model_dir("s3://b/models/tiny", tmp_path) != m.model_dir("s3://b/models/small", tmp_path)

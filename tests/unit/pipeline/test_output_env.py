"""`spec.output`'s S3 settings (endpointURL, region, addressingStyle) reach every boto3 client the
job uses: the worker pods' environment, the workers' own stores (built from the plan), and the
operator's stores for live progress and staging cleanup. No network: boto3 builds clients and signs
URLs offline (tests/unit/storage/test_s3_addressing.py: how the store reads the variables);
tests/integration/test_s3_addressing.py sends real requests to SeaweedFS."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.controller import children as ch
from datafoundry.controller import live_reader, staging
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner
from datafoundry.pipeline.contract import ENV_ADDRESSING_STYLE
from datafoundry.pipeline.output_env import output_env
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.storage import open_store
from datafoundry.storage.s3 import S3Store
from datafoundry.workers.common import load_context

OWNER = Owner("ns", "j", "u")
KEYS = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}


def spec(**output: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/tiny", "shards": 2},
        "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}, **output},
    })


def s3_config(store: object) -> tuple[dict[str, str] | None, str]:
    assert isinstance(store, S3Store)
    return store.client.meta.config.s3, store.client.meta.region_name


def url(store: S3Store, key: str = "k") -> str:
    """The URL boto3 addresses for `key` (signed offline: the bucket in the path or in the host)."""
    return str(store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": store._key(key)})).split("?")[0]


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_from_the_spec_to_the_store(style: str) -> None:
    s = spec(endpointURL="https://s3.example.com", region="eu-west-1", addressingStyle=style)
    # A worker's store (output, inputs, replay, eval sets, an s3:// model all use this environment).
    assert s3_config(open_store(s.output.uri, output_env(s, KEYS))) == (
        {"addressing_style": style}, "eu-west-1")
    # The operator's own stores: staging cleanup and live progress.
    assert s3_config(staging._store(s, 1.0)) == ({"addressing_style": style}, "eu-west-1")
    found = live_reader.output_bucket(s)
    assert found is not None
    assert s3_config(found[0]) == ({"addressing_style": style}, "eu-west-1")
    assert found[0].client.meta.endpoint_url == "https://s3.example.com"


def test_the_operator_verifies_the_store_with_its_own_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator cannot read a job's endpointCA Secret: its stores use its own AWS_CA_BUNDLE (the
    chart's operator.s3.caBundle), with the job's endpoint, region and style."""
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    s = spec(endpointURL="https://s3.example.com", addressingStyle="path",
             endpointCA={"kind": "ConfigMap", "name": "store-ca"})
    store = staging._store(s, 1.0)
    assert isinstance(store, S3Store) and store.client._endpoint.http_session._verify == str(bundle)
    assert store.client.meta.endpoint_url == "https://s3.example.com"


def test_auto_leaves_botocore_its_default_everywhere() -> None:
    s = spec(endpointURL="https://s3.example.com")
    assert ENV_ADDRESSING_STYLE not in output_env(s, {})
    assert s3_config(open_store(s.output.uri, output_env(s, KEYS)))[0] is None
    env = {e["name"] for e in ch.generate_job(OWNER, s, OperatorConfig(), 0, 4)[
        "spec"]["template"]["spec"]["containers"][0]["env"]}
    assert ENV_ADDRESSING_STYLE not in env


def test_a_worker_keeps_its_environment_the_operator_lets_the_spec_win() -> None:
    s = spec(endpointURL="https://s3.example.com", region="eu-west-1", addressingStyle="path")
    base = {"AWS_ENDPOINT_URL": "http://proxy:9000", "AWS_DEFAULT_REGION": "us-east-1"}
    worker = output_env(s, base)
    assert worker["AWS_ENDPOINT_URL"] == "http://proxy:9000" and worker["AWS_DEFAULT_REGION"] == "us-east-1"
    assert worker[ENV_ADDRESSING_STYLE] == "path"
    operator = output_env(s, base, spec_wins=True)
    assert operator["AWS_ENDPOINT_URL"] == "https://s3.example.com" and operator["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_every_worker_pod_gets_the_settings() -> None:
    s = spec(endpointURL="https://s3.example.com", region="eu-west-1", addressingStyle="path")
    config = OperatorConfig()
    jobs = [ch.generate_job(OWNER, s, config, 0, 4), ch.filter_job(OWNER, s, config, 0, 1),
            ch.dedup_job(OWNER, s, config, 0), ch.publish_job(OWNER, s, config, 1)]
    for job in jobs:
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env[ENV_ADDRESSING_STYLE] == "path", job["metadata"]["name"]
        assert env["AWS_ENDPOINT_URL"] == "https://s3.example.com"
        assert env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_a_worker_builds_its_store_from_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pod's variables (an older operator's Job, a local run) the plan's spec is enough."""
    s = spec(endpointURL="https://s3.example.com", region="eu-west-1", addressingStyle="path")
    plan = build_plan(JobRef(name="j", namespace="ns", uid="u"), s.model_dump(by_alias=True, mode="json",
                                                                               exclude_none=True))
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    for var in (ENV_ADDRESSING_STYLE, "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in KEYS.items():
        monkeypatch.setenv(var, value)
    ctx = load_context(Stage.FILTER, argparse.Namespace(plan=str(path), round=0, shard=0))
    assert s3_config(ctx.store) == ({"addressing_style": "path"}, "eu-west-1")
    assert url(ctx.store) == "https://s3.example.com/bucket/out/k"  # type: ignore[arg-type]
    # Inputs, replay and eval sets are read with the same settings.
    env = output_env(ctx.spec)
    assert env[ENV_ADDRESSING_STYLE] == "path" and env["AWS_DEFAULT_REGION"] == "eu-west-1"

"""Spec fields that Kubernetes acts on reach the child Jobs and their pods (the field audit's
placement, retry and credential fields): parallelism, backoffLimit, priorityClassName, node
selector and tolerations, and the S3 credential Secret's keys or the pods' own identity."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner

CONFIG = OperatorConfig()
OWNER = Owner("ns", "j", "u")


def spec(generator: dict[str, Any] | None = None, output: dict[str, Any] | None = None,
         **top: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 100},
        "generator": {"model": "org/tiny", "shards": 8, **(generator or {})},
        "output": output or {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}},
        **top,
    })


def all_jobs(s: DataFoundryJobSpec) -> dict[str, dict[str, Any]]:
    return {
        "generate": ch.generate_job(OWNER, s, CONFIG, 0, 100),
        "filter": ch.filter_job(OWNER, s, CONFIG, 0, 0),
        "dedup": ch.dedup_job(OWNER, s, CONFIG, 0),
        "publish": ch.publish_job(OWNER, s, CONFIG, 1),
    }


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = job["spec"]["template"]["spec"]
    return out


def env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod_spec(job)["containers"][0].get("env", [])}


def test_parallelism_bounds_the_generator_shards_running_at_once() -> None:
    job = ch.generate_job(OWNER, spec({"parallelism": 3}), CONFIG, 0, 100)
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (8, 3)
    default = ch.generate_job(OWNER, spec(), CONFIG, 0, 100)
    assert default["spec"]["parallelism"] == 8


def test_backoff_limit_is_the_retries_of_every_stage() -> None:
    jobs = all_jobs(spec(backoffLimit=7))
    assert jobs["generate"]["spec"]["backoffLimitPerIndex"] == 7
    for stage in ("filter", "dedup", "publish"):
        assert jobs[stage]["spec"]["backoffLimit"] == 7, stage
    assert all_jobs(spec())["generate"]["spec"]["backoffLimitPerIndex"] == 3


def test_priority_class_name_is_set_on_every_worker_pod() -> None:
    for stage, job in all_jobs(spec(priorityClassName="batch-low")).items():
        assert pod_spec(job)["priorityClassName"] == "batch-low", stage
    for stage, job in all_jobs(spec()).items():
        assert "priorityClassName" not in pod_spec(job), stage


def test_node_selector_and_tolerations_reach_the_generator_pods_as_written() -> None:
    toleration = {"key": "pool", "operator": "Equal", "value": "a100", "effect": "NoExecute",
                  "tolerationSeconds": 600}
    job = ch.generate_job(OWNER, spec({"nodeSelector": {"pool": "a100"}, "tolerations": [toleration]}),
                          CONFIG, 0, 100)
    pod = pod_spec(job)
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert toleration in pod["tolerations"]
    # The GPU toleration is still added for the GPU the shard requests.
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_the_credential_secrets_keys_are_the_ones_referenced() -> None:
    output = {"uri": "s3://bucket/out", "credentials": {"secretRef": {
        "name": "creds", "accessKeyIdKey": "id", "secretAccessKeyKey": "secret", "sessionTokenKey": "token"}}}
    for stage, job in all_jobs(spec(output=output)).items():
        e = env(job)
        refs = {name: e[name]["valueFrom"]["secretKeyRef"] for name in
                ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        assert refs == {"AWS_ACCESS_KEY_ID": {"name": "creds", "key": "id"},
                        "AWS_SECRET_ACCESS_KEY": {"name": "creds", "key": "secret"},
                        "AWS_SESSION_TOKEN": {"name": "creds", "key": "token"}}, stage
    # Without sessionTokenKey there is no session token variable.
    assert "AWS_SESSION_TOKEN" not in env(all_jobs(spec())["generate"])


def test_inherit_from_identity_gives_the_pods_no_keys() -> None:
    output = {"uri": "s3://bucket/out", "credentials": {"inheritFromIdentity": True}}
    for stage, job in all_jobs(spec(output=output)).items():
        e = env(job)
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(e), stage


def test_the_endpoint_ca_bundle_is_mounted_and_named_to_boto3_in_every_worker_pod() -> None:
    for kind, source in (("Secret", {"secret": {"secretName": "s3-ca", "items": [{"key": "bundle.pem",
                                                                                    "path": "ca.crt"}]}}),
                         ("ConfigMap", {"configMap": {"name": "s3-ca", "items": [{"key": "bundle.pem",
                                                                                  "path": "ca.crt"}]}})):
        output = {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}},
                  "endpointURL": "https://s3.internal.example.com",
                  "endpointCA": {"kind": kind, "name": "s3-ca", "key": "bundle.pem"}}
        for stage, job in all_jobs(spec(output=output)).items():
            pod = pod_spec(job)
            assert {"name": "ca", **source} in pod["volumes"], (kind, stage)
            mounts = pod["containers"][0]["volumeMounts"]
            assert {"name": "ca", "mountPath": "/etc/datafoundry/ca", "readOnly": True} in mounts, (kind, stage)
            # botocore reads AWS_CA_BUNDLE for every client the worker makes.
            assert env(job)["AWS_CA_BUNDLE"]["value"] == "/etc/datafoundry/ca/ca.crt", (kind, stage)
    for stage, job in all_jobs(spec()).items():
        assert "AWS_CA_BUNDLE" not in env(job), stage

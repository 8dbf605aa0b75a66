"""Failures that would otherwise leave a job Pending for ever, as pure functions: a pod the kubelet
cannot start (a missing Secret in the job's namespace) and a spec too large for its plan ConfigMap."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api import keys
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller import reasons
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.observe import observe, pod_config_error
from datafoundry.controller.owner import Owner
from datafoundry.controller.reconcile import decide, referenced_objects
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.testing import specs

UID = "11111111-2222-3333-4444-555555555555"


def make_spec(**overrides: Any) -> DataFoundryJobSpec:
    """An OpenAI-compatible endpoint with a key Secret, a tenant's S3 Secret, endpoint and CA."""
    spec = specs.spec_dict(output={"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "tenant-b-s3"}},
                                   "endpointURL": "https://s3.example.com",
                                   "endpointCA": {"kind": "ConfigMap", "name": "ca"}})
    spec["generator"] = {"model": "org/tiny", "engine": {"type": "openai", "endpoint": "http://llm:8000/v1",
                                                         "apiKeySecretRef": {"name": "llm", "key": "token"}}}
    spec.update(overrides)
    return DataFoundryJobSpec.model_validate(spec)


def waiting_pod(reason: str, message: str, phase: str = "Pending") -> dict[str, Any]:
    return {"metadata": {"name": "job-gen-r0-0-abcde", "labels": {"batch.kubernetes.io/job-name": "job-gen-r0"}},
            "status": {"phase": phase, "containerStatuses": [{"state": {"waiting": {"reason": reason,
                                                                                   "message": message}}}]}}


def gen_job() -> dict[str, Any]:
    return {"metadata": {"name": "job-gen-r0", "labels": {keys.LABEL_JOB_UID: UID, keys.LABEL_STAGE: "generate",
                                                          keys.LABEL_ROUND: "0"}},
            "spec": {"completions": 1, "completionMode": "Indexed",
                     "template": {"spec": {"containers": [{"args": []}]}}},
            "status": {"active": 1}}


def test_referenced_objects_names_every_field() -> None:
    assert referenced_objects(make_spec()) == {
        "tenant-b-s3": ["spec.output.credentials.secretRef.name"],
        "ca": ["spec.output.endpointCA.name"],
        "llm": ["spec.generator.engine.apiKeySecretRef.name"],
    }


@pytest.mark.parametrize(("message", "field"), [
    ('secret "tenant-b-s3" not found', "spec.output.credentials.secretRef.name"),
    ("couldn't find key token in Secret team-a/llm", "spec.generator.engine.apiKeySecretRef.name"),
    ('configmap "ca" not found', "spec.output.endpointCA.name"),
])
def test_a_pod_that_cannot_start_fails_the_job_naming_the_field(message: str, field: str) -> None:
    observed = observe([gen_job()], [waiting_pod("CreateContainerConfigError", message)])
    d = decide(owner=Owner("team-a", "job", UID), spec=make_spec(), observed=observed,
               config=OperatorConfig(), start_time=None)
    assert d.failed is not None and d.failed[0] == reasons.POD_CONFIG_ERROR
    assert message in d.failed[1] and field in d.failed[1] and "job's namespace" in d.failed[1]
    assert d.deletes == ["job-gen-r0"] and not d.creates


def test_only_config_errors_count() -> None:
    assert pod_config_error(waiting_pod("ContainerCreating", "")) is None
    assert pod_config_error(waiting_pod("ImagePullBackOff", "back-off")) is None  # may be transient
    assert pod_config_error(waiting_pod("CreateContainerConfigError", "x", phase="Failed")) is None
    found = pod_config_error(waiting_pod("InvalidImageName", "bad ref"))
    assert found is not None and found.job == "job-gen-r0" and found.pod == "job-gen-r0-0-abcde"


def test_plan_size_limit_names_the_largest_field() -> None:
    spec = make_spec(task={"domain": "ops", "seeds": {"inline": [{"instruction": "x" * 1_100_000}]}})
    spec_json = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    plan = build_plan(JobRef(name="j", namespace="n", uid=UID), spec_json).to_json()
    with pytest.raises(ch.PlanTooLarge, match=r"^spec\.task\.seeds\.inline\[0\]\.instruction: too large"):
        ch.check_plan_size(plan, spec_json)
    small = make_spec().model_dump(by_alias=True, mode="json", exclude_none=True)
    ch.check_plan_size(build_plan(JobRef(name="j", namespace="n", uid=UID), small).to_json(), small)


def test_the_line_limit_reaches_every_worker_only_when_set() -> None:
    spec = make_spec()
    default = ch.filter_job(Owner("ns", "job", UID), spec, OperatorConfig(), 0, 0)["spec"]["template"]["spec"]
    assert "DATAFOUNDRY_MAX_LINE_BYTES" not in {e["name"] for e in default["containers"][0]["env"]}
    for build in (lambda c: ch.filter_job(Owner("ns", "job", UID), spec, c, 0, 0),
                  lambda c: ch.generate_job(Owner("ns", "job", UID), spec, c, 0, 10),
                  lambda c: ch.publish_job(Owner("ns", "job", UID), spec, c, 1)):
        env = {e["name"]: e.get("value") for e in build(OperatorConfig(max_line_bytes=1000))["spec"]["template"][
            "spec"]["containers"][0]["env"]}
        assert env["DATAFOUNDRY_MAX_LINE_BYTES"] == "1000"


@pytest.mark.parametrize(("resources", "requests", "limits"), [
    ({"limits": {"memory": "1Gi"}}, {"cpu": "4"}, {"memory": "1Gi", "nvidia.com/gpu": "1"}),
    ({"requests": {"memory": "64Gi"}}, {"cpu": "4", "memory": "64Gi"}, {"nvidia.com/gpu": "1"}),
    ({"requests": {"cpu": "8", "memory": "64Gi"}, "limits": {"memory": "96Gi"}},
     {"cpu": "8", "memory": "64Gi"}, {"memory": "96Gi", "nvidia.com/gpu": "1"}),
    (None, {"cpu": "4", "memory": "32Gi"}, {"memory": "32Gi", "nvidia.com/gpu": "1"}),
])
def test_user_resources_replace_both_defaults(resources: Any, requests: Any, limits: Any) -> None:
    """A default never lands on the wrong side of the user's value (request > limit: an invalid pod)."""
    spec = make_spec(generator={"model": "org/tiny", **({"resources": resources} if resources else {})})
    got = ch.generate_job(Owner("ns", "job", UID), spec, OperatorConfig(), 0, 10)["spec"]["template"]["spec"]
    assert got["containers"][0]["resources"] == {"requests": requests, "limits": limits}


def test_refusal_hint_names_the_spec_field() -> None:
    message = ('Job.batch "j-gen-r0" is invalid: spec.template.spec.containers[0].resources.requests: '
               'Invalid value: "2Gi": must be less than or equal to memory limit of 1Gi')
    assert ch.refusal_hint(message) == " (check spec.generator.resources)"
    assert ch.refusal_hint("something else") == ""

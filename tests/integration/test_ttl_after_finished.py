"""spec.ttlSecondsAfterFinished on the real control plane: the operator deletes a finished
DataFoundryJob that long after its completionTime, not before (found untested by the field audit)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator
from datafoundry.testing.testbed import S3, Kube

pytestmark = pytest.mark.integration
TTL = 5


def get(kube: Kube, ns: str, name: str) -> dict[str, Any] | None:
    try:
        return k8s.CustomObjectsApi(kube.api).get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, ns, PLURAL, name)
    except k8s.ApiException as e:
        if e.status == 404:
            return None
        raise


def test_a_finished_job_is_deleted_ttl_seconds_after_it_finished(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns, name = job_namespace, "short-lived"
    doc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": name}, "spec": {
        "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/tiny", "shards": 1, "gpusPerShard": 1},
        "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}{name}", "endpointURL": s3.endpoint_url,
                   "credentials": {"secretRef": {"name": S3_SECRET}}},
        "ttlSecondsAfterFinished": TTL,
    }}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))
    deadline = time.monotonic() + 180
    finished: datetime | None = None
    while time.monotonic() < deadline:
        obj = get(kube, ns, name)
        assert obj is not None, "deleted before it finished"
        status = obj.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
            finished = datetime.fromisoformat(status["completionTime"].replace("Z", "+00:00"))
            break
        time.sleep(0.5)
    assert finished is not None, f"not finished in time\n{operator.log_tail()}"
    while get(kube, ns, name) is not None:
        assert (datetime.now(UTC) - finished).total_seconds() < TTL + 30, f"not deleted\n{operator.log_tail()}"
        time.sleep(0.25)
    gone_after = (datetime.now(UTC) - finished).total_seconds()
    # completionTime has a resolution of one second.
    assert gone_after >= TTL - 1, f"deleted {gone_after:.1f}s after it finished, before its TTL of {TTL}s"

"""On the test bed, with the real workers: a published dataset records the images the operator was
configured with (digests as given) in its manifest and card, and `spec.output.addressingStyle`
reaches every worker pod (path style against SeaweedFS, end to end)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from datafoundry.pipeline.contract import ENV_ADDRESSING_STYLE
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator
from datafoundry.testing.testbed import REPO, S3, Kube

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "5e" * 32
IMAGES = {
    "operator": f"example.invalid/datafoundry/operator:0.1.0@{DIGEST}",
    "generator": f"example.invalid/datafoundry/generator@{DIGEST.replace('5e', '6f')}",
    "filter": f"example.invalid/datafoundry/filter@{DIGEST.replace('5e', '7a')}",
}


@pytest.fixture(scope="module")
def pinned_operator(kube: Kube, s3: S3, operator_rbac: Path) -> Iterator[Operator]:
    """The operator as the chart runs it with digest-pinned images (DATAFOUNDRY_*_IMAGE)."""
    log_dir = REPO / ".local" / "test" / "logs"
    op = Operator.on_free_ports(kube, s3, operator_rbac, log_dir / f"operator-{uuid.uuid4().hex[:6]}.log",
                  extra_env={f"DATAFOUNDRY_{role.upper()}_IMAGE": ref for role, ref in IMAGES.items()})
    op.start()
    try:
        yield op
    finally:
        op.stop()


def status(kube: Kube, ns: str, name: str) -> dict[str, object]:
    return json.loads(kube.kubectl("get", "dfj", name, "-n", ns, "-o", "json").stdout).get("status") or {}  # type: ignore[no-any-return]


def test_published_dataset_records_the_operators_images_and_pods_get_the_addressing_style(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, pinned_operator: Operator, real_pod_runner: PodRunner
) -> None:
    ns = job_namespace
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i}: drain the node before the kernel upgrade, then "
                                               f"uncordon it once the pods on it are ready again ({i})."})
             for i in range(12)]
    s3.client.put_object(Bucket=s3.bucket, Key=f"{s3_prefix}in/a.jsonl", Body="\n".join(lines).encode())
    doc = {
        "apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob", "metadata": {"name": "provenance"},
        "spec": {
            "target": {"records": 10},
            "input": {"uris": [f"s3://{s3.bucket}/{s3_prefix}in/"], "format": "jsonl"},
            "filters": [{"type": "length", "minChars": 20}],
            "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}out", "endpointURL": s3.endpoint_url,
                       "region": s3.env.get("AWS_DEFAULT_REGION", "us-east-1"), "addressingStyle": "path",
                       "credentials": {"secretRef": {"name": S3_SECRET}}},
        },
    }
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and status(kube, ns, "provenance").get("phase") not in ("Succeeded", "Failed"):
        time.sleep(0.5)
    st = status(kube, ns, "provenance")
    assert st.get("phase") == "Succeeded", f"{st}\noperator:\n{pinned_operator.log_tail()}"

    manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}out/manifest.json")["Body"].read())
    # A curation job runs no generator: the operator's image and the CPU stages' image, digests as configured.
    assert manifest["images"] == {"operator": IMAGES["operator"], "filter": IMAGES["filter"]}
    card = s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}out/README.md")["Body"].read().decode()
    provenance = card.split("## Provenance", 1)[1]
    assert f"- images: operator `{IMAGES['operator']}`, filter `{IMAGES['filter']}`" in provenance

    # Every worker pod was given the output's S3 settings, the publish pod the images ...
    jobs = kube.batch.list_namespaced_job(ns).items
    assert {j.metadata.labels["datafoundry.io/stage"] for j in jobs} == {"filter", "dedup", "publish"}
    for job in jobs:
        env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
        assert env[ENV_ADDRESSING_STYLE] == "path", job.metadata.name
        assert env["AWS_ENDPOINT_URL"] == s3.endpoint_url
        assert job.spec.template.spec.containers[0].image == IMAGES["filter"]
        if job.metadata.labels["datafoundry.io/stage"] == "publish":
            assert env["DATAFOUNDRY_FILTER_IMAGE"] == IMAGES["filter"]
            assert env["DATAFOUNDRY_OPERATOR_IMAGE"] == IMAGES["operator"]
            assert "DATAFOUNDRY_GENERATOR_IMAGE" not in env
    # ... and ran with them: real worker processes, with exactly the pods' environment, all exit 0.
    runs = [r for r in real_pod_runner.runs if r.namespace == ns]
    assert len(runs) >= len(jobs) and all(r.exit_code == 0 for r in runs), runs

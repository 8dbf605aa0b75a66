"""`datafoundry status` against the real API server (a DataFoundryJob whose status is patched as the
operator would write it; no operator runs) and `datafoundry preview` of a dataset in the test bed's S3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from datafoundry.publish import formats
from datafoundry.testing.testbed import S3, Kube

pytestmark = pytest.mark.integration
MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
DATAFOUNDRY = [sys.executable, "-m", "datafoundry.cli"]
NAME = "support-chat"

STATUS: dict[str, Any] = {
    "phase": "Succeeded",
    "observedGeneration": 1,
    "startTime": "2026-03-01T11:01:00Z",
    "completionTime": "2026-03-01T11:43:00Z",
    "conditions": [
        {"type": "Accepted", "status": "True", "reason": "SpecValid", "message": "The recipe is valid.",
         "observedGeneration": 1, "lastTransitionTime": "2026-03-01T11:00:30Z"},
        {"type": "Published", "status": "True", "reason": "ManifestWritten",
         "message": "The manifest names 1200 records in 2 shards.",
         "observedGeneration": 1, "lastTransitionTime": "2026-03-01T11:42:50Z"},
        {"type": "Succeeded", "status": "True", "reason": "DatasetPublished",
         "message": "Published 1200 records to s3://datafoundry/datasets/support-chat.",
         "observedGeneration": 1, "lastTransitionTime": "2026-03-01T11:43:00Z"},
    ],
    "progress": {"target": 1000, "generated": 1480, "accepted": 1000, "percent": 100, "replay": 200,
                 "rejected": {"generator/refusal": 31, "quality": 210, "minhash": 180},
                 "promptTokens": 412345, "completionTokens": 298765, "round": 2,
                 "lastUpdateTime": "2026-03-01T11:42:00Z"},
    "shards": {"generate": {"total": 2, "active": 0, "succeeded": 2, "failed": 0},
               "publish": {"total": 1, "active": 0, "succeeded": 1, "failed": 0}},
    "output": {"uri": "s3://datafoundry/datasets/support-chat", "records": 1200, "bytes": 2621440,
               "manifestUri": "s3://datafoundry/datasets/support-chat/manifest.json",
               "sha256": "a" * 64, "publishedTime": "2026-03-01T11:42:50Z",
               "decontamination": {"items": 500, "indexed": 498, "shortItems": 12, "exactOnlyItems": 3,
                                   "emptyItems": 2, "matchedItems": 3, "records": 4},
               "quality": {"distinct2": 0.61, "selfBleu": 0.12}},
}


def datafoundry(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DATAFOUNDRY, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "160", **(env or {})})


def apply_job(kube: Kube, namespace: str) -> dict[str, Any]:
    """A job with the status above, as the API server stores it (the schema prunes unknown fields)."""
    doc = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    doc["metadata"]["name"] = NAME
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))
    kube.kubectl("patch", "datafoundryjob", NAME, "-n", namespace, "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": STATUS}))
    stored = json.loads(kube.kubectl("get", "datafoundryjob", NAME, "-n", namespace, "-o", "json").stdout)
    status: dict[str, Any] = stored["status"]
    return status


def test_status_shows_phase_conditions_funnel_output_and_quality(kube: Kube, crd: None, namespace: str) -> None:
    stored = apply_job(kube, namespace)
    proc = datafoundry("status", NAME, "-n", namespace, "--kubeconfig", str(kube.kubeconfig))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert f"{namespace}/{NAME} Succeeded" in lines[0]
    assert "DatasetPublished" in out and "ManifestWritten" in out
    assert "Published 1200 records to s3://datafoundry/datasets/support-chat." in out
    for expected in ("generated 1,480", "dropped at generation: refusal -31", "dropped by quality -210",
                     "dropped by minhash -180", "accepted 1,000 / 1,000 (100%)", "replay mixed in 200",
                     "tokens (prompt / completion) 412,345 / 298,765", "round 2", "generate 2 0 2 0",
                     "uri s3://datafoundry/datasets/support-chat", "records 1,200",
                     "manifest s3://datafoundry/datasets/support-chat/manifest.json"):
        assert expected in lines, (expected, out)
    if "quality" in stored["output"]:
        assert "distinct2 0.610" in lines and "selfBleu 0.120" in lines, out
    else:  # a CRD without status.output.quality prunes it
        assert "quality" not in lines


def test_status_json_is_the_stored_status(kube: Kube, crd: None, namespace: str) -> None:
    stored = apply_job(kube, namespace)
    proc = datafoundry("status", NAME, "-n", namespace, "--kubeconfig", str(kube.kubeconfig), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == stored
    assert stored["progress"]["rejected"]["generator/refusal"] == 31


def test_status_namespace_from_the_kubeconfig_context(
    kube: Kube, crd: None, namespace: str, tmp_path: Path
) -> None:
    apply_job(kube, namespace)
    config = tmp_path / "kubeconfig"
    config.write_text(kube.kubeconfig.read_text())
    kube.kubectl("config", "set-context", "--current", f"--namespace={namespace}", f"--kubeconfig={config}")
    proc = datafoundry("status", NAME, env={"KUBECONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert f"{namespace}/{NAME}" in proc.stdout
    # Without a namespace in the context it is `default`, where there is no such job.
    proc = datafoundry("status", NAME, "--kubeconfig", str(kube.kubeconfig))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"datafoundry status: DataFoundryJob default/{NAME} not found"


def test_status_missing_job_exits_2_naming_it(kube: Kube, crd: None, namespace: str) -> None:
    proc = datafoundry("status", "no-such-job", "-n", namespace, "--kubeconfig", str(kube.kubeconfig))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"datafoundry status: DataFoundryJob {namespace}/no-such-job not found"


SENTENCES = [
    "The library opens at nine in the morning and closes at six in the evening.",
    "Please return borrowed books within three weeks to avoid a late fee.",
    "Children under twelve can join the reading club for free every Saturday.",
    "The reading room on the second floor is reserved for quiet study.",
    "You can renew a loan online as long as nobody else has reserved the book.",
]


def test_preview_of_a_published_dataset_in_s3(s3: S3, s3_prefix: str) -> None:
    records = [{"id": f"r{i}", "text": t, "meta": {"strategy": "selfInstruct", "model": "tiny"}, "_source": "generated"}
               for i, t in enumerate(SENTENCES)]
    shards = []
    for i, chunk in enumerate((records[:3], records[3:])):
        key = f"data/part-{i:05d}.jsonl.zst"
        data = formats.encode(chunk, "jsonl", "zstd")
        s3.client.put_object(Bucket=s3.bucket, Key=s3_prefix + key, Body=data)
        shards.append({"key": key, "records": len(chunk), "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"kind": "DatasetManifest", "format": "jsonl", "compression": "zstd", "records": 5, "shards": shards,
                "job": {"name": "library", "namespace": "team-b"}}
    s3.client.put_object(Bucket=s3.bucket, Key=s3_prefix + "manifest.json", Body=json.dumps(manifest).encode())
    env = {k: v for k, v in s3.env.items() if k.startswith("AWS_")}
    uri = f"s3://{s3.bucket}/{s3_prefix.rstrip('/')}"
    proc = datafoundry("preview", uri, "-n", "4", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == records[:4]
    proc = datafoundry("preview", uri, "-n", "2", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "published dataset, 5 records in 2 shards, jsonl/zstd, job team-b/library" in proc.stdout
    assert SENTENCES[0] in proc.stdout and SENTENCES[1] in proc.stdout and SENTENCES[2] not in proc.stdout
    proc = datafoundry("preview", f"{uri}/data/part-00001.jsonl.zst", "--json", env=env)
    assert [json.loads(line)["text"] for line in proc.stdout.splitlines()] == SENTENCES[3:]
    for missing in (f"{uri}/nothing-here", f"s3://no-such-bucket-{s3_prefix.split('/')[1]}/x"):
        proc = datafoundry("preview", missing, env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and missing in proc.stderr

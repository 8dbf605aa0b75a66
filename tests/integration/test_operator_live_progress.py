"""Live progress on the real control plane and S3: while generator shards run, the operator reads
their progress objects in the background (controller/live_reader.py) and the job's status shows the counts
before any shard has finished; the final counts then come from the pods' termination messages."""

from __future__ import annotations

import pytest
from test_operator import apply, child_jobs, get, manifest, wait_for, wait_phase

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import Progress
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import Operator
from datafoundry.testing.testbed import S3, Kube

pytestmark = pytest.mark.integration


def test_running_shards_progress_reaches_the_status_before_they_finish(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner
) -> None:
    ns, name = job_namespace, "live"
    pod_runner.extra_env["CONTRACT_WORKER_SLEEP"] = "15"  # the shards stay running meanwhile
    apply(kube, ns, manifest(name, s3, s3_prefix))
    gen = f"{name}-gen-r0"
    wait_for("both generator shards to run", lambda: gen in (jobs := child_jobs(kube, ns))
             and (jobs[gen].status.ready or 0) == 2, op=operator)
    uid = get(kube, ns, name)["metadata"]["uid"]
    for shard, generated in ((0, 7), (1, 5)):  # what a worker writes every few seconds
        progress = Progress(stage="generate", round=0, shard=shard, generated=generated, chunks_total=3)
        key = f"{s3_prefix}{name}/{layout.progress_key(uid, Stage.GENERATE, 0, shard)}"
        s3.client.put_object(Bucket=s3.bucket, Key=key, Body=progress.to_json().encode())

    def live_counts() -> dict[str, int] | None:
        status = get(kube, ns, name).get("status") or {}
        generated = (status.get("progress") or {}).get("generated")
        return {"generated": generated} if generated == 12 else None

    wait_for("the live counts in the status", live_counts, timeout=60, op=operator)
    assert not (child_jobs(kube, ns)[gen].status.succeeded or 0), "read while running, not from finished pods"
    done = wait_phase(kube, ns, name, "Succeeded", operator)
    assert done["status"]["progress"]["generated"] == 30  # the pods' final counts replace the live ones

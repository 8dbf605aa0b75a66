"""The generate worker (`datafoundry worker generate`) on a `file://` store against the session's
vLLM server with the tiny random model: mechanics, not content (its text is noise, so the screens
are off). Parts, checkpoint and done marker land under the job's staging prefix, and a rerun of a
finished shard generates nothing. The worker on S3 with faults: tests/integration/test_generate_worker.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.stages import Stage
from datafoundry.engines.server import VLLMServer
from datafoundry.pipeline import layout
from datafoundry.strategies.pool import POOL_DROPS
from datafoundry.testing.workers import WorkerJob

pytestmark = pytest.mark.vllm


def self_instruct_job(tmp_path: Path, server: VLLMServer, seeds: list[dict[str, str]], max_tokens: int) -> WorkerJob:
    """8 selfInstruct records from the tiny random model: noise, so the screens are off (and with them the
    pool's own filters)."""
    return WorkerJob.on_files(tmp_path).setup({
        "task": {"type": "instruction", "domain": "Kubernetes operations", "seeds": {"inline": seeds}},
        "target": {"records": 8},
        "generator": {"model": server.model, "gpusPerShard": 0, "batchSize": 4,
                      "sampling": {"maxTokens": max_tokens, "temperature": 1.0},
                      "engine": {"type": "openai", "endpoint": server.base_url, "maxConcurrency": 4},
                      "strategies": [{"name": "selfInstruct", "options": {"maxChars": 40}}],
                      "screens": {"enabled": False}},
        "seed": 7,
    })


def test_generate_writes_its_parts_and_a_rerun_is_a_no_op(tmp_path: Path, vllm_server: VLLMServer) -> None:
    job = self_instruct_job(tmp_path, vllm_server, [{"instruction": "What is a pod?",
                                                     "response": "The smallest deployable unit."}], max_tokens=64)

    progress = job.ok("generate", 0, 0, "--records", "8")

    assert progress.generated > 0
    assert job.store.exists(layout.part_key(job.uid, Stage.GENERATE, 0, 0, 0))
    assert job.store.exists(layout.done_key(job.uid, Stage.GENERATE, 0, 0))
    again = job.ok("generate", 0, 0, "--records", "8")
    assert again.generated == progress.generated


def test_self_instruct_pool_carries_round_0_into_round_1_and_a_rerun_is_identical(
        tmp_path: Path, vllm_server: VLLMServer) -> None:
    seeds = [{"instruction": "How do I restart a deployment?", "response": "kubectl rollout restart."},
             {"instruction": "What is a pod?", "response": "The smallest deployable unit."}]
    job = self_instruct_job(tmp_path, vllm_server, seeds, max_tokens=32)

    def records(round_: int) -> list[dict[str, Any]]:
        parts = sorted(k for k in job.store.list(layout.shard_prefix(job.uid, Stage.GENERATE, round_, 0))
                       if "/part-" in k)
        return [json.loads(line) for k in parts for line in (job.store.get(k) or b"").splitlines()]

    progress = job.ok("generate", 0, 0, "--records", "8")
    round0 = {r["id"] for r in records(0)}
    # noise, yet none of it dropped by the pool's filters: with the screens off they are off too
    assert progress.generated > 0 and not set(progress.rejected or {}) & {f"generator/{r}" for r in POOL_DROPS}
    job.ok("generate", 1, 0, "--records", "8")
    first = records(1)
    pooled = [i for r in first for i in r["meta"]["source"].get("pool", [])]
    assert round0 and pooled and set(pooled) <= round0 | {r["id"] for r in first}
    # chunk 0 of round 1 sees round 0's instructions only; later chunks also their shard's earlier ones
    chunk0 = [set(r["meta"]["source"].get("pool", [])) for r in first if r["meta"]["chunk"] == 0]
    assert any(chunk0) and all(ids <= round0 for ids in chunk0)
    job.store.delete_prefix(layout.shard_prefix(job.uid, Stage.GENERATE, 1, 0))
    job.ok("generate", 1, 0, "--records", "8")
    assert records(1) == first

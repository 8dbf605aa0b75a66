"""The generate worker (`datafoundry worker generate`) on a `file://` store against the session's
vLLM server with the tiny random model: mechanics, not content (its text is noise, so the screens
are off). Parts, checkpoint and done marker land under the job's staging prefix, and a rerun of a
finished shard generates nothing. The worker on S3 with faults: tests/integration/test_generate_worker.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from datafoundry.api.stages import Stage
from datafoundry.engines.server import VLLMServer
from datafoundry.pipeline import layout
from datafoundry.testing.workers import WorkerJob

pytestmark = pytest.mark.vllm


def test_generate_writes_its_parts_and_a_rerun_is_a_no_op(tmp_path: Path, vllm_server: VLLMServer) -> None:
    job = WorkerJob.on_files(tmp_path).setup({
        "task": {"type": "instruction", "domain": "Kubernetes operations",
                 "seeds": {"inline": [{"instruction": "What is a pod?", "response": "The smallest deployable unit."}]}},
        "target": {"records": 8},
        "generator": {"model": vllm_server.model, "gpusPerShard": 0, "batchSize": 4,
                      "sampling": {"maxTokens": 64, "temperature": 1.0},
                      "engine": {"type": "openai", "endpoint": vllm_server.base_url, "maxConcurrency": 4},
                      "strategies": [{"name": "selfInstruct", "options": {"maxChars": 40}}],
                      "screens": {"enabled": False}},
        "seed": 7,
    })

    progress = job.ok("generate", 0, 0, "--records", "8")

    assert progress.generated > 0
    assert job.store.exists(layout.part_key(job.uid, Stage.GENERATE, 0, 0, 0))
    assert job.store.exists(layout.done_key(job.uid, Stage.GENERATE, 0, 0))
    again = job.ok("generate", 0, 0, "--records", "8")
    assert again.generated == progress.generated

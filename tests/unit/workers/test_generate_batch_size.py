"""generator.batchSize is the prompts handed to the engine per call and the checkpoint granularity
(found untested by the field audit): the real generate worker on a file:// output, with a scripted
engine in place of vLLM (the engine's batching is what is under test, not its text)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.engines.base import Completion, Request
from datafoundry.pipeline import layout
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.workers.common import load_context
from datafoundry.workers.generate import generate


class RecordingEngine:
    """Answers every request with a question-like sentence and records the size of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    @property
    def model_name(self) -> str:
        return "org/tiny"

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.calls.append(len(requests))
        return [Completion(f"How do I list the pods of namespace number {i}?", prompt_tokens=10,
                           completion_tokens=10) for i, _ in enumerate(requests)]

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("batch_size", "chunks"), [(4, 3), (10, 1)])
def test_batch_size_is_the_engine_call_and_the_checkpoint_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int, chunks: int) -> None:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"domain": "Kubernetes operations",
                 "seeds": {"inline": [{"instruction": "How do I list pods?", "response": "kubectl get pods"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/tiny", "batchSize": batch_size, "gpusPerShard": 0,
                      "strategies": [{"name": "selfInstruct"}], "screens": {"enabled": False}},
        "output": {"uri": f"file://{tmp_path / 'out'}"},
    })
    plan = build_plan(JobRef(name="j", namespace="ns", uid="u"),
                      spec.model_dump(by_alias=True, mode="json", exclude_none=True))
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    monkeypatch.setenv("DATAFOUNDRY_METRICS_LINGER_SECONDS", "0")
    ctx = load_context(Stage.GENERATE, argparse.Namespace(plan=str(path), round=0, shard=0))
    engine = RecordingEngine()
    generate(ctx, 10, engine=engine)  # type: ignore[arg-type]
    # Ask, then answer: two engine calls per chunk, each of at most batchSize prompts.
    asks = engine.calls[0::2]
    assert asks == [min(batch_size, 10 - k * batch_size) for k in range(chunks)], engine.calls
    assert max(engine.calls) <= batch_size
    parts = [layout.part_key(ctx.uid, Stage.GENERATE, 0, 0, k) for k in range(chunks)]
    assert all(ctx.store.exists(k) for k in parts)
    assert not ctx.store.exists(layout.part_key(ctx.uid, Stage.GENERATE, 0, 0, chunks))
    checkpoint = json.loads(ctx.store.get(layout.checkpoint_key(ctx.uid, Stage.GENERATE, 0, 0)) or b"{}")
    assert checkpoint["chunksDone"] == chunks

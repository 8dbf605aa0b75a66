"""The forgetting guard's worker: what it trains with and which model it fine-tunes."""

from __future__ import annotations

from datafoundry.evaluation.lora import LoraSettings
from datafoundry.testing import specs
from datafoundry.workers.evaluate import lora_settings, reference_model

REPLAY = {"replay": {"generate": {}, "ratio": 0.2}}


def test_the_spec_s_settings_and_the_job_s_seed_reach_the_training() -> None:
    spec = specs.make_spec(seed=42, mix=REPLAY, evaluation={"forgetting": {
        "steps": 7, "batchSize": 3, "learningRate": 0.02, "maxTokens": 64, "lora": {"rank": 4, "alpha": 32}}})
    assert lora_settings(spec) == LoraSettings(steps=7, batch_size=3, learning_rate=0.02, max_tokens=64, rank=4,
                                               alpha=32, seed=42)


def test_the_generator_s_model_at_its_revision_unless_one_is_named() -> None:
    gen = {"model": "org/gen", "modelRevision": "v2", "modelCache": {"sizeLimit": "10Gi"},
           "huggingFace": {"endpoint": "https://hf.example"}}
    spec = specs.make_spec(generator=gen, mix=REPLAY, evaluation={"forgetting": {}})
    assert reference_model(spec) == ("org/gen", "v2")
    named = specs.make_spec(generator=gen, mix=REPLAY, evaluation={"forgetting": {"model": "/models/reference"}})
    assert reference_model(named) == ("/models/reference", None)

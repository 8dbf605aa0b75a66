"""The generator's engine and sampling fields reach the engine the worker makes, and the seeds
decide the plan: what the field audit found untested (modelName, timeoutSeconds, maxConcurrency,
maxRetries, temperature, topP, maxTokens, modelRevision, tensorParallelSize, maxModelLen,
gpuMemoryUtilization, dtype, spec.seed, sampling.seed).

The vLLM engine is replaced by a recorder (loading a model is not what is under test; the in-process
engine runs for real in tests/integration/test_generate_worker.py::test_vllm_engine_in_process)."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec, Generator
from datafoundry.engines import make_engine
from datafoundry.engines.openai import OpenAIEngine
from datafoundry.engines.vllm import VLLMOptions
from datafoundry.strategies.base import Inputs, Seed
from datafoundry.strategies.registry import StrategyMix


def spec(generator: dict[str, Any], **top: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 10},
        "generator": {"model": "org/tiny", **generator},
        "output": {"uri": "file:///out"},
        **top,
    })


def generator(**fields: Any) -> Generator:
    gen = spec(fields).generator
    assert gen is not None
    return gen


def test_the_openai_engine_gets_the_spec_s_endpoint_settings_and_sampling() -> None:
    gen = generator(engine={"type": "openai", "endpoint": "http://vllm.serving:8000/v1", "modelName": "served-name",
                            "timeoutSeconds": 17, "maxConcurrency": 5, "maxRetries": 2},
                    sampling={"temperature": 0.3, "topP": 0.5, "maxTokens": 77})
    engine = make_engine(gen, seed=1)
    assert isinstance(engine, OpenAIEngine)
    assert engine.model_name == "served-name"
    assert (engine.max_concurrency, engine.max_retries) == (5, 2)
    assert engine.client.timeout == 17.0
    assert str(engine.client.base_url).rstrip("/") == "http://vllm.serving:8000/v1"
    assert (engine.sampling.temperature, engine.sampling.top_p, engine.sampling.max_tokens) == (0.3, 0.5, 77)
    # Without modelName the generator's model is the name sent.
    plain = make_engine(generator(engine={"type": "openai", "endpoint": "http://x:1/v1"}), seed=1)
    assert isinstance(plain, OpenAIEngine) and plain.model_name == "org/tiny"


def test_the_vllm_engine_gets_the_spec_s_model_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, Any] = {}

    class Recorder:
        def __init__(self, model: str, sampling: Any, **kwargs: Any) -> None:
            made.update(model=model, sampling=sampling, **kwargs)

    monkeypatch.setattr("datafoundry.engines.vllm.VLLMEngine", Recorder)
    gen = generator(modelRevision="v1.2", gpusPerShard=4, tensorParallelSize=2, maxModelLen=4096,
                    gpuMemoryUtilization=0.75, dtype="float16", enforceEager=False,
                    sampling={"temperature": 1.1, "topP": 0.8})
    make_engine(gen, seed=9)
    assert made["model"] == "org/tiny" and made["served_name"] == "org/tiny"
    assert made["options"] == VLLMOptions(revision="v1.2", tensor_parallel_size=2, max_model_len=4096,
                                          gpu_memory_utilization=0.75, dtype="float16", seed=9,
                                          enforce_eager=False)
    assert (made["sampling"].temperature, made["sampling"].top_p) == (1.1, 0.8)


INPUTS = Inputs(seeds=(Seed("s0", {"instruction": "a", "response": "b"}),), chunks=())


def seeds_of(s: DataFoundryJobSpec) -> list[int]:
    mix = StrategyMix(s, INPUTS)
    return [mix.sampling_seed(0, p) for p in range(20)]


def test_spec_seed_decides_the_plan_and_sampling_seed_overrides_it() -> None:
    assert seeds_of(spec({}, seed=1)) == seeds_of(spec({}, seed=1))
    assert seeds_of(spec({}, seed=1)) != seeds_of(spec({}, seed=2))
    # sampling.seed replaces spec.seed for the sampling seeds.
    assert seeds_of(spec({"sampling": {"seed": 5}}, seed=1)) == seeds_of(spec({}, seed=5))
    assert seeds_of(spec({"sampling": {"seed": 5}}, seed=1)) != seeds_of(spec({}, seed=1))


def test_a_judge_filters_own_engine_settings_reach_its_engine() -> None:
    from datafoundry.workers.judging import endpoint_engine

    s = DataFoundryJobSpec.model_validate({
        "target": {"records": 10},
        "input": {"uris": ["file:///in"]},
        "filters": [{"type": "judge", "model": "org/judge", "engine": {
            "type": "openai", "endpoint": "http://judge.serving:8000/v1", "modelName": "judge-served",
            "timeoutSeconds": 12, "maxConcurrency": 3, "maxRetries": 4,
            "apiKeySecretRef": {"name": "judge-key", "key": "token"}}}],
        "output": {"uri": "file:///out"},
    })
    judge = s.judge_filter()
    assert judge is not None
    engine = endpoint_engine(s, judge, {"DATAFOUNDRY_JUDGE_API_KEY": "k-judge", "OPENAI_API_KEY": "k-other"})
    assert isinstance(engine, OpenAIEngine)
    assert engine.model_name == "judge-served"
    assert (engine.max_concurrency, engine.max_retries, engine.client.timeout) == (3, 4, 12.0)
    assert str(engine.client.base_url).rstrip("/") == "http://judge.serving:8000/v1"
    assert engine.client.api_key == "k-judge"  # its own key, from its Secret reference
    # Without modelName the judge's model is the name sent.
    assert judge.engine is not None
    unnamed = judge.model_copy(update={"engine": judge.engine.model_copy(update={"model_name": None})})
    assert endpoint_engine(s, unnamed, {}).model_name == "org/judge"

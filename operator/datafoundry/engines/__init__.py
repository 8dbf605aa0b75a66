"""Inference engines: `vllm` (in-process `vllm.LLM`) and `openai` (any OpenAI-compatible server).

Heavy imports (vllm, openai) happen when an engine is made, never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping

from datafoundry.api.spec import EngineType, Generator
from datafoundry.engines.base import Completion, Engine, Message, Request, SamplingConfig
from datafoundry.engines.metrics import GeneratorMetrics


def sampling_config(gen: Generator) -> SamplingConfig:
    s = gen.sampling
    return SamplingConfig(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                          repetition_penalty=s.repetition_penalty)


def make_engine(gen: Generator, *, seed: int, metrics: GeneratorMetrics | None = None,
                env: Mapping[str, str] | None = None) -> Engine:
    """The engine `generator.engine` asks for, with its parameters from the spec."""
    sampling = sampling_config(gen)
    if gen.engine.type == EngineType.OPENAI:
        from datafoundry.engines.openai import OpenAIEngine

        assert gen.engine.endpoint is not None  # the spec's validation guarantees it
        return OpenAIEngine(
            gen.engine.endpoint,
            gen.engine.model_name or gen.model,
            sampling,
            max_concurrency=gen.engine.max_concurrency,
            timeout=float(gen.engine.timeout_seconds),
            max_retries=gen.engine.max_retries,
            metrics=metrics,
        )
    from datafoundry.engines.model import resolve_model
    from datafoundry.engines.vllm import VLLMEngine, VLLMOptions

    options = VLLMOptions(
        revision=gen.model_revision,
        tensor_parallel_size=gen.tensor_parallel_size,
        max_model_len=gen.max_model_len,
        gpu_memory_utilization=gen.gpu_memory_utilization,
        dtype=gen.dtype.value,
        seed=seed,
        enforce_eager=gen.enforce_eager,
    )
    return VLLMEngine(resolve_model(gen.model, env), sampling, served_name=gen.model, options=options, metrics=metrics)


__all__ = ["Completion", "Engine", "GeneratorMetrics", "Message", "Request", "SamplingConfig", "make_engine",
           "sampling_config"]

"""Which engine scores records for the judge filter, and in which pod.

- With a generator, the generator pod scores each chunk right after generating it: with the very
  engine that generated it (the loaded vLLM model, or the generator's endpoint) when the judge
  names no other model or engine, else through the judge's own OpenAI-compatible endpoint.
- In a curation job (`spec.input`), the CPU filter pod scores through the judge's endpoint (the
  spec's validation requires `engine.type: openai` there).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from datafoundry.api import spec as api
from datafoundry.pipeline import contract

if TYPE_CHECKING:
    from datafoundry.engines import Engine
    from datafoundry.filters.judge import JudgeScorer

#: Records per judge batch in a curation job's filter pod (the endpoint's concurrency does the rest).
CURATION_BATCH = 64


def shares_generator_engine(spec: api.DataFoundryJobSpec, judge: api.JudgeFilter) -> bool:
    gen = spec.generator
    return gen is not None and judge.engine is None and judge.model in (None, gen.model)


def endpoint_engine(spec: api.DataFoundryJobSpec, judge: api.JudgeFilter, env: Mapping[str, str]) -> Engine:
    """An OpenAI-compatible engine for the judge: its own engine, else the generator's endpoint."""
    from datafoundry.engines import SamplingConfig
    from datafoundry.engines.openai import ENV_API_KEY, OpenAIEngine
    from datafoundry.records.judge import SCORE_MAX_TOKENS

    gen = spec.generator
    engine = judge.engine or (gen.engine if gen is not None else None)
    if engine is None or engine.type != api.EngineType.OPENAI or engine.endpoint is None:
        raise ValueError("the judge needs an OpenAI-compatible endpoint here (filters[].engine.type: openai)")
    if judge.engine is not None:
        model = judge.engine.model_name or judge.model or (gen.model if gen is not None else None)
    else:  # the generator's endpoint, asked for the judge's model when it names one
        model = judge.model or engine.model_name or (gen.model if gen is not None else None)
    if model is None:
        raise ValueError("the judge needs a model (filters[].model)")
    own_key = judge.engine is not None and judge.engine.api_key_secret_ref is not None
    key_env = contract.ENV_JUDGE_API_KEY if own_key else ENV_API_KEY
    return OpenAIEngine(
        engine.endpoint, model, SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=SCORE_MAX_TOKENS),
        max_concurrency=engine.max_concurrency, timeout=float(engine.timeout_seconds),
        max_retries=engine.max_retries, api_key=env.get(key_env),
    )


def scorer(spec: api.DataFoundryJobSpec, env: Mapping[str, str], generator_engine: Engine | None = None,
           ) -> tuple[JudgeScorer | None, Engine | None]:
    """(the scorer, an engine the caller must close) for this job, or (None, None) without a judge."""
    from datafoundry.filters.judge import JudgeScorer

    judge = spec.judge_filter()
    if judge is None:
        return None, None
    if generator_engine is not None and shares_generator_engine(spec, judge):
        return JudgeScorer(generator_engine, judge.rubric), None
    engine = endpoint_engine(spec, judge, env)
    return JudgeScorer(engine, judge.rubric), engine


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch

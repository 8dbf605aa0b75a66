"""Generate records with an LLM (vLLM in-process or an OpenAI-compatible server) for one shard.

The shard's records are cut into chunks of `generator.batchSize` prompts. Chunk c is one engine
batch; when it is done its records are written as the immutable object `part-<c>.jsonl` (never
rewritten if present), then `checkpoint.json` records c+1 chunks done. A killed pod resumes after
the last checkpointed chunk and loses at most the chunk in flight. Prompts and per-request
sampling seeds are a pure function of (plan, round, position), position = index * shards + shard,
so a rerun produces exactly the records of an uninterrupted run. A strategy that `remembers` (Self-Instruct's
pool) also sees the records of finished parts before the chunk (`workers.history`), which a rerun reads back
the same.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from datafoundry.api import CamelModel
from datafoundry.api.stages import Stage
from datafoundry.pipeline import contract, layout
from datafoundry.pipeline.contract import GENERATOR_PREFIX, Progress, add_strategy_counts
from datafoundry.pipeline.output_env import output_env
from datafoundry.pipeline.plan import shard_share
from datafoundry.records.encode import encode_jsonl
from datafoundry.records.fields import ID_FIELD
from datafoundry.strategies.screens import string_bounds
from datafoundry.workers import judging
from datafoundry.workers.common import ProgressReporter, WorkerContext, add_common_arguments, run_worker

if TYPE_CHECKING:
    from datafoundry.engines import Engine, GeneratorMetrics
    from datafoundry.engines.base import Completion
    from datafoundry.filters.judge import JudgeScorer
    from datafoundry.strategies.base import Call, Flow, Outcome, Strategy
    from datafoundry.strategies.registry import StrategyMix
    from datafoundry.strategies.screens import Screens

log = logging.getLogger("datafoundry.worker.generate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--records", type=int, required=True,
                        help="records the whole round asks for (spread evenly over the shards)")


def run(args: argparse.Namespace) -> int:
    return run_worker(Stage.GENERATE, args, lambda ctx: generate(ctx, args.records))


class Checkpoint(CamelModel):
    """What the finished chunks of a shard add up to (rewritten after each part)."""

    recipe_hash: str
    records: int
    batch_size: int
    chunks_done: int = 0
    chunks_total: int = 0
    generated: int = 0
    failures: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Per strategy: prompts sent, records written and each parse failure or screen by name.
    strategies: dict[str, dict[str, int]] = Field(default_factory=dict)

    @property
    def parse_failures(self) -> int:
        return sum(self.failures.values())


@dataclass
class ChunkResult:
    body: bytes
    generated: int
    failures: Counter[str]
    prompt_tokens: int
    completion_tokens: int
    strategies: dict[str, Counter[str]]


@dataclass
class ShardWork:
    """The arithmetic of one shard: its records, chunks and global positions."""

    records: int
    batch_size: int
    shard: int
    shards: int

    @property
    def chunks(self) -> int:
        return math.ceil(self.records / self.batch_size)

    def indices(self, chunk: int) -> range:
        return range(chunk * self.batch_size, min(self.records, (chunk + 1) * self.batch_size))

    def position(self, index: int) -> int:
        return index * self.shards + self.shard


def load_mix(ctx: WorkerContext, env: dict[str, str]) -> StrategyMix:
    """Read and check every input (BadInput naming object and line) before anything is written."""
    from datafoundry.strategies.base import Inputs
    from datafoundry.strategies.inputs import check_schema, load_chunks, load_seeds
    from datafoundry.strategies.registry import StrategyMix

    task = ctx.spec.task
    assert task is not None
    check_schema(task.output_schema)
    inputs = Inputs(seeds=load_seeds(task.seeds, env), chunks=load_chunks(task.documents, ctx.spec.seed, env))
    return StrategyMix(ctx.spec, inputs)


def screens_for(ctx: WorkerContext, mix: StrategyMix) -> Screens | None:
    """`generator.screens` for this job's seeds, or None when switched off."""
    from datafoundry.strategies.screens import Screens

    gen = ctx.spec.generator
    assert gen is not None
    cfg = gen.screens
    if not cfg.enabled:
        return None
    return Screens((s.data for s in mix.inputs.seeds), truncated=cfg.truncated, unfinished=cfg.unfinished,
                   non_answer=cfg.non_answer, seed_novelty=cfg.seed_novelty, answer_in_prompt=cfg.answer_in_prompt)


def record_id(recipe_hash: str, round_: int, position: int) -> str:
    import hashlib

    return hashlib.sha256(f"{recipe_hash}:{round_}:{position}".encode()).hexdigest()[:24]


@dataclass
class SlotRun:
    """One record's flow while the chunk runs: its calls so far and their tokens."""

    index: int
    strategy: Strategy
    flow: Flow
    call: Call | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: Outcome | None = None

    def step(self, done: Completion | None) -> None:
        """Start the flow (None) or send it the completion of its call; leaves the next call or the outcome."""
        if done is not None:
            self.calls += 1
            self.prompt_tokens += done.prompt_tokens
            self.completion_tokens += done.completion_tokens
        try:
            self.call = next(self.flow) if done is None else self.flow.send(done)
        except StopIteration as stop:
            self.call, self.outcome = None, stop.value


class ChunkRunner:
    def __init__(self, ctx: WorkerContext, mix: StrategyMix, engine: Engine, work: ShardWork,
                 metrics: GeneratorMetrics | None = None, scorer: JudgeScorer | None = None) -> None:
        self.ctx, self.mix, self.engine, self.work, self.metrics = ctx, mix, engine, work, metrics
        self.screens = screens_for(ctx, mix)
        #: Each strategy's string bounds (its schema is the same for every prompt): read once, not per record.
        self.bounds = {st.name: string_bounds((st.shape.ask or st.shape).schema) for st in mix.strategies}
        #: The judge filter's scorer: each chunk is scored here, while the model is loaded.
        self.scorer = scorer
        #: Where flows' judge calls go (a preference ranking): the judge filter's engine, else the generator's.
        self.judge_engine = scorer.engine if scorer is not None else engine
        gen = ctx.spec.generator
        assert gen is not None
        self.sampling = {"temperature": gen.sampling.temperature, "topP": gen.sampling.top_p,
                         "maxTokens": gen.sampling.max_tokens, "repetitionPenalty": gen.sampling.repetition_penalty}

    def drive(self, chunk: int) -> list[SlotRun]:
        """Run the chunk's flows in lockstep, one engine batch (per engine) per step, until all have ended."""
        from datafoundry.engines.base import Request

        runs = []
        for index in self.work.indices(chunk):
            strategy, flow = self.mix.flow(self.ctx.round, self.work.position(index))
            runs.append(SlotRun(index, strategy, flow))
        for run in runs:
            run.step(None)
        while pending := [r for r in runs if r.call is not None]:
            for judge in (False, True):
                batch = [r for r in pending if r.call is not None and r.call.judge is judge]
                if not batch:
                    continue
                requests = []
                for r in batch:
                    call = r.call
                    assert call is not None
                    seed = self.mix.sampling_seed(self.ctx.round, self.work.position(r.index), r.calls)
                    requests.append(Request(messages=call.messages, seed=seed, schema=call.schema,
                                            max_tokens=call.max_tokens, temperature=call.temperature, stop=call.stop,
                                            open_user_turn=call.open_user_turn,
                                            pre_query_template=call.pre_query_template))
                engine = self.judge_engine if judge else self.engine
                for r, done in zip(batch, engine.generate(requests), strict=True):
                    r.step(done)
        return runs

    def run(self, chunk: int) -> ChunkResult:
        runs = self.drive(chunk)
        records: list[dict[str, Any]] = []
        failures: Counter[str] = Counter()
        by_strategy: dict[str, Counter[str]] = {}
        for run in runs:  # position order: a stateful strategy admits records as an uninterrupted run does
            outcome, name = run.outcome, run.strategy.name
            assert outcome is not None
            counts = by_strategy.setdefault(name, Counter())
            counts["prompts"] += 1
            position = self.work.position(run.index)
            rid = record_id(self.ctx.plan.recipe_hash, self.ctx.round, position)
            fields, failure = outcome.record, outcome.failure
            if fields is not None and self.screens is not None:
                failure = self.screens.check(fields, finish_reason=outcome.finish_reason, max_chars=self.bounds[name])
            if fields is not None and failure is None:  # with its id: a pool names what it holds
                if self.screens is not None:
                    failure = run.strategy.admit({ID_FIELD: rid, **fields})
                elif run.strategy.remembers:  # screens off: remembered without the strategy's admission filters
                    run.strategy.remember([{ID_FIELD: rid, **fields}])
            if fields is None or failure is not None:
                reason = failure or "invalid"
                failures[reason] += 1
                counts[reason] += 1
                if self.metrics:
                    self.metrics.parse_failures.labels(strategy=name, reason=reason).inc()
                continue
            seed = self.mix.sampling_seed(self.ctx.round, position)
            records.append(self.record(rid, fields, name, outcome.source, seed, chunk, run))
            counts["records"] += 1
            if self.metrics:
                self.metrics.records.labels(strategy=name).inc()
        if self.scorer is not None:
            records = self.scorer.score(records)
        return ChunkResult(
            body=encode_jsonl(records),
            generated=len(records),
            failures=failures,
            prompt_tokens=sum(r.prompt_tokens for r in runs),
            completion_tokens=sum(r.completion_tokens for r in runs),
            strategies=by_strategy,
        )

    def record(self, rid: str, fields: dict[str, Any], strategy: str, source: dict[str, Any], seed: int,
               chunk: int, run: SlotRun) -> dict[str, Any]:
        from datafoundry.records.fields import META_FIELD

        ctx = self.ctx
        index = run.index
        meta = {
            "strategy": strategy,
            **({"source": source} if source else {}),
            "model": self.engine.model_name,
            "sampling": {**self.sampling, "seed": seed},
            "job": ctx.plan.job.name,
            "recipeHash": ctx.plan.recipe_hash,
            "round": ctx.round,
            "shard": ctx.shard,
            "chunk": chunk,
            "index": index,
            "position": self.work.position(index),
            "promptTokens": run.prompt_tokens,
            "completionTokens": run.completion_tokens,
        }
        content = {k: v for k, v in fields.items() if k not in (ID_FIELD, META_FIELD)}
        return {ID_FIELD: rid, **content, META_FIELD: meta}


def load_checkpoint(ctx: WorkerContext, work: ShardWork) -> Checkpoint:
    key = layout.checkpoint_key(ctx.uid, Stage.GENERATE, ctx.round, ctx.shard)
    fresh = Checkpoint(recipe_hash=ctx.plan.recipe_hash, records=work.records, batch_size=work.batch_size,
                       chunks_total=work.chunks)
    data = ctx.store.get(key)
    if data is None:
        return fresh
    cp = Checkpoint.model_validate_json(data)
    if (cp.recipe_hash, cp.records, cp.batch_size) != (fresh.recipe_hash, fresh.records, fresh.batch_size):
        # The same round of the same job must always be asked for the same records.
        raise RuntimeError(f"checkpoint {key} is for {cp.records} records in chunks of {cp.batch_size} "
                           f"(recipe {cp.recipe_hash[:12]}), not {work.records}/{work.batch_size}")
    return cp


def _sync_progress(progress: Progress, cp: Checkpoint) -> None:
    progress.chunks_done, progress.chunks_total = cp.chunks_done, cp.chunks_total
    progress.generated, progress.parse_failures = cp.generated, cp.parse_failures
    progress.prompt_tokens, progress.completion_tokens = cp.prompt_tokens, cp.completion_tokens
    progress.rejected = {f"{GENERATOR_PREFIX}{k}": v for k, v in sorted(cp.failures.items())}
    progress.strategies = cp.strategies or None
    if cp.failures:
        progress.message = "dropped at generation: " + ", ".join(f"{k}={v}" for k, v in sorted(cp.failures.items()))


def remember_history(ctx: WorkerContext, mix: StrategyMix, chunk: int) -> None:
    """Give each strategy that `remembers` its records accepted before `chunk` (see `workers.history`)."""
    from datafoundry.workers.history import load_accepted

    for strategy in mix.strategies:
        if strategy.remembers:
            strategy.remember(load_accepted(ctx, chunk, strategy.name, strategy.memory()))


def generate(ctx: WorkerContext, records: int, *, engine: Engine | None = None,
             metrics: GeneratorMetrics | None = None) -> Progress:
    """Generate this shard's records (resuming after the last checkpointed chunk); returns the final counts."""
    from datafoundry.engines import GeneratorMetrics, make_engine
    from datafoundry.engines.metrics import DEFAULT_METRICS_LINGER, ENV_METRICS_LINGER

    gen = ctx.spec.generator
    if gen is None:
        raise ValueError("spec.generator is not set")
    env = output_env(ctx.spec)  # inputs and an s3:// model use the output's settings too
    mix = load_mix(ctx, env)
    work = ShardWork(records=shard_share(records, gen.shards, ctx.shard), batch_size=gen.batch_size,
                     shard=ctx.shard, shards=gen.shards)
    cp = load_checkpoint(ctx, work)
    reporter = ProgressReporter(ctx)
    _sync_progress(reporter.progress, cp)
    reporter.update(force=True)
    if cp.chunks_done >= work.chunks:
        return reporter.finish()
    if metrics is None:
        metrics = GeneratorMetrics()
        metrics.serve(int(env.get(contract.ENV_METRICS_PORT, "0") or 0))
    own_engine = engine is None
    if engine is None:
        metrics.model_loading.set(1)
        try:
            engine = make_engine(gen, seed=mix.seed, metrics=metrics, env=env)
        finally:
            metrics.model_loading.set(0)
    judge, judge_engine = judging.scorer(ctx.spec, env, engine)
    runner = ChunkRunner(ctx, mix, engine, work, metrics, judge)
    remember_history(ctx, mix, cp.chunks_done)
    try:
        for chunk in range(cp.chunks_done, work.chunks):
            result = runner.run(chunk)
            key = layout.part_key(ctx.uid, Stage.GENERATE, ctx.round, ctx.shard, chunk)
            if ctx.store.exists(key):
                log.info("%s exists (written before the pod stopped); keeping it", key)
            else:
                ctx.store.put(key, result.body, "application/x-ndjson")
            cp = cp.model_copy(update={
                "chunks_done": chunk + 1,
                "generated": cp.generated + result.generated,
                "failures": dict(Counter(cp.failures) + result.failures),
                "prompt_tokens": cp.prompt_tokens + result.prompt_tokens,
                "completion_tokens": cp.completion_tokens + result.completion_tokens,
                "strategies": add_strategy_counts(cp.strategies, result.strategies),
            })
            ctx.store.put(layout.checkpoint_key(ctx.uid, Stage.GENERATE, ctx.round, ctx.shard),
                          cp.model_dump_json(by_alias=True).encode(), "application/json")
            metrics.chunks.inc()
            _sync_progress(reporter.progress, cp)
            reporter.update()
            log.info("chunk %d/%d: %d records, %d parse failures", chunk + 1, work.chunks, result.generated,
                     sum(result.failures.values()))
    finally:
        if judge_engine is not None:
            judge_engine.close()
        if own_engine:
            engine.close()
    done = reporter.finish()
    linger = float(env.get(ENV_METRICS_LINGER) or DEFAULT_METRICS_LINGER)
    if metrics.linger(linger):
        log.info("final metrics scraped")
    return done

#!/usr/bin/env python3
"""Generator benchmark: the full worker path versus bare vLLM, in one run, same model and prompts.

1. Offline, on two models: the tiny random Llama of the test bed (mechanics and speed) and the real
   SmolLM2-135M-Instruct (real text, the quickstart's spec: its strategies, sampling and screens).
   The full `datafoundry worker generate` path (strategies, prompt building and rendering, the
   engine, parsing, screens, part + checkpoint + progress writes to a file:// store) on an `LLM`,
   versus bare `vllm.LLM.generate` on the same `LLM` replaying exactly the worker's vLLM calls
   (its token ids, per-request seeds and sampling parameters, batched as the worker batched them:
   a flow's later calls, such as the answer to an evolved question, wait for its earlier ones).
   Runs alternate (worker, bare, worker, bare...) and the best of each is kept. In the worker runs
   the functions of each part are wrapped with timers (`datafoundry.testing.timing`), so the share
   of the worker's wall time spent outside `vllm.LLM.generate` is measured, by part.
2. Server: the `openai` engine versus raw concurrent `AsyncOpenAI` requests at equal concurrency,
   against one `vllm serve` of the tiny model.

    .venv/bin/python hack/bench/generator.py --json OUT

Prints (and writes to OUT) one JSON object: `tiny`, `smollm2` (each with `worker_tokens_per_s`,
`bare_tokens_per_s`, `ratio` (target >= 0.95), `outside_generate_share`, `outside_generate_s_by_part`)
and `server` (`ratio`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from datafoundry.testing.models import MAX_MODEL_LEN, make_smollm2_model, make_tiny_model

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"

SEEDS = [
    {"instruction": "How do I restart a deployment?", "response": "Run kubectl rollout restart deployment/NAME."},
    {"instruction": "What is a pod?", "response": "The smallest deployable unit: one or more containers."},
    {"instruction": "How do I see why a pod is pending?", "response": "kubectl describe pod NAME shows the events."},
    {"instruction": "How do I scale a deployment?", "response": "kubectl scale deployment/NAME --replicas=3."},
]


STRATEGIES = ("selfInstruct", "evolInstruct", "persona", "taxonomy")

#: The timed part that is the bare path's work too; every other part is the worker's own.
INSIDE = "vllm_generate"


def cpu_env() -> None:
    for k, v in {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                 "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
        os.environ.setdefault(k, v)


def validated(spec: dict[str, Any]) -> dict[str, Any]:
    from datafoundry.api.spec import DataFoundryJobSpec

    return DataFoundryJobSpec.model_validate(spec).model_dump(mode="json", by_alias=True, exclude_none=True)


def make_spec(model: str, out_uri: str, args: argparse.Namespace, engine: dict[str, Any]) -> dict[str, Any]:
    """The tiny model's spec: every strategy, short strings (a random model's text is noise anyway)."""
    opts = {"maxChars": args.max_chars}
    return validated({
        "task": {"type": "instruction", "domain": "Kubernetes operations", "seeds": {"inline": SEEDS},
                 "taxonomy": [{"name": "networking", "subtopics": ["services", "ingress"]}, {"name": "storage"}]},
        "target": {"records": args.prompts},
        "generator": {
            "model": model, "gpusPerShard": 0, "batchSize": args.batch_size, "maxModelLen": MAX_MODEL_LEN,
            "dtype": "auto", "sampling": {"maxTokens": args.max_tokens, "temperature": 1.0},
            "strategies": [{"name": n, "options": opts} for n in STRATEGIES],
            "engine": engine,
        },
        "output": {"uri": out_uri},
        "seed": 11,
    })


def quickstart_spec(model: str, out_uri: str, records: int, max_tokens: int) -> dict[str, Any]:
    """examples/quickstart.yaml as `make demo` runs it (its task, strategies, sampling, screens and filters), on
    one CPU shard writing to `out_uri`, with `maxTokens` set."""
    spec = yaml.safe_load(QUICKSTART.read_text())["spec"]
    gen = spec["generator"]
    gen.update(model=model, shards=1, gpusPerShard=0, maxModelLen=MAX_MODEL_LEN)
    gen["sampling"] = {**gen.get("sampling", {}), "maxTokens": max_tokens}
    spec["target"] = {**spec["target"], "records": records}
    spec["output"] = {"uri": out_uri}
    return validated(spec)


def context(spec: dict[str, Any], uid: str) -> Any:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.api.stages import Stage
    from datafoundry.pipeline.plan import JobRef, build_plan
    from datafoundry.storage import open_store
    from datafoundry.workers.common import WorkerContext

    plan = build_plan(JobRef(name="bench", namespace="bench", uid=uid), spec)
    model = DataFoundryJobSpec.model_validate(spec)
    return WorkerContext(stage=Stage.GENERATE, plan=plan, spec=model, round=0, shard=0,
                         store=open_store(model.output.uri))


def requests_for(ctx: Any, n: int) -> list[Any]:
    """Exactly the first requests the worker sends for this shard (its flows' first calls, with their seeds)."""
    from datafoundry.engines.base import Request
    from datafoundry.workers.generate import load_mix

    mix = load_mix(ctx, dict(os.environ))
    requests = []
    for i in range(n):
        _, flow = mix.flow(0, i)
        call = next(flow)
        requests.append(Request(messages=call.messages, seed=mix.sampling_seed(0, i), schema=call.schema,
                                max_tokens=call.max_tokens, temperature=call.temperature, stop=call.stop,
                                open_user_turn=call.open_user_turn))
    return requests


def timed_parts(llm: Any, engine: Any, store: Any) -> list[tuple[Any, str, str]]:
    """What to time in a worker run: (object, attribute, part). Self-times, so `engine_other` is the engine's
    own work around `render` and vLLM's generate, `flows` the strategies' prompt building and parsing
    (ChunkRunner.drive less the engine), `records` the rest of a chunk (ids, metadata) and `worker_other`
    the worker's setup and bookkeeping."""
    from datafoundry.filters.judge import JudgeScorer
    from datafoundry.strategies.base import Strategy
    from datafoundry.strategies.screens import Screens
    from datafoundry.strategies.self_instruct import SelfInstruct
    from datafoundry.workers import generate as worker

    return [(llm, "generate", INSIDE), (engine, "prepare", "render"), (engine, "generate", "engine_other"),
            (worker.ChunkRunner, "drive", "flows"), (worker.ChunkRunner, "run", "records"),
            (Screens, "check", "screens"), (Strategy, "admit", "admit"), (SelfInstruct, "admit", "admit"),
            (JudgeScorer, "score", "judge"), (worker, "encode_jsonl", "encode"), (store, "put", "store_writes")]


def offline(model: str, spec: dict[str, Any], prompts: int, repeats: int) -> dict[str, Any]:
    from vllm import LLM

    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.engines import sampling_config
    from datafoundry.engines.metrics import GeneratorMetrics
    from datafoundry.engines.vllm import VLLMEngine, VLLMOptions, llm_kwargs
    from datafoundry.testing.timing import PartTimer, time_shares
    from datafoundry.workers.generate import generate

    job = DataFoundryJobSpec.model_validate(spec)
    gen = job.generator
    assert gen is not None
    t0 = time.perf_counter()
    # As make_engine builds it for this spec.
    llm = LLM(**llm_kwargs(model, VLLMOptions(dtype=gen.dtype.value, max_model_len=gen.max_model_len,
                                              seed=job.seed, enforce_eager=gen.enforce_eager)))
    load_s = time.perf_counter() - t0
    engine = VLLMEngine(model, sampling_config(gen), served_name=gen.model, llm=llm)
    prompts_, params, _ = engine.prepare(requests_for(context(spec, "probe"), min(16, prompts)))
    for p in params:  # compiles and grammar caches, without a full-length batch
        p.max_tokens = min(p.max_tokens, 16)
    llm.generate(prompts_, params, use_tqdm=False)

    def worker(calls: list[tuple[list[Any], list[Any]]]) -> dict[str, Any]:
        """A worker run, timed by part; each of its vLLM calls' prompts and parameters go to `calls`."""
        ctx = context(spec, uuid.uuid4().hex)
        timer = PartTimer()
        llm.reset_prefix_cache()  # every run starts cold: the bare one must not reuse this one's prefills
        vllm_generate = llm.generate

        def recorded(prompts: list[Any], params: list[Any], *args: Any, **kwargs: Any) -> Any:
            calls.append((prompts, params))
            return vllm_generate(prompts, params, *args, **kwargs)

        setattr(llm, "generate", recorded)  # noqa: B010 - an instance attribute over the method
        try:
            with timer.patched(timed_parts(llm, engine, ctx.store)), timer.part("worker_other"):
                progress = generate(ctx, prompts, engine=engine, metrics=GeneratorMetrics())
        finally:
            del llm.generate
        s = sum(timer.seconds.values())  # the outermost part's wall time
        shares = time_shares(s, timer.seconds, inside={INSIDE})
        return {"seconds": s, "completion_tokens": progress.completion_tokens,
                "tokens_per_s": progress.completion_tokens / s, "records": progress.generated,
                "dropped": progress.rejected or {}, "vllm_batches": [len(p) for p, _ in calls], **shares}

    def bare(calls: list[tuple[list[Any], list[Any]]]) -> dict[str, Any]:
        """The worker run's vLLM calls again, as they were batched, rendered beforehand."""
        llm.reset_prefix_cache()
        t = time.perf_counter()
        outs = [o for prompts, params in calls for o in llm.generate(prompts, params, use_tqdm=False)]
        s = time.perf_counter() - t
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        return {"seconds": s, "completion_tokens": tokens, "tokens_per_s": tokens / s}

    bares, workers = [], []
    replay: list[tuple[list[Any], list[Any]]] = []
    try:
        for i in range(repeats):
            # The flows are seeded, so every worker run makes the same calls: the bare side replays the
            # first run's. Which side goes first alternates after that first pair, so neither gets all
            # the first runs on a warm-up (new batch shapes, new grammars) or a shared machine's drift.
            if i % 2 == 0:
                calls: list[tuple[list[Any], list[Any]]] = []
                workers.append(worker(calls))
                replay = replay or calls
                bares.append(bare(replay))
            else:
                bares.append(bare(replay))
                workers.append(worker([]))
    finally:
        # Stop the engine core process now: left to the interpreter's exit, it can keep this script
        # from ever exiting (seen with vllm-cpu 0.32).
        with contextlib.suppress(AttributeError):
            llm.llm_engine.engine_core.shutdown(timeout=30)
    best_bare = max(bares, key=lambda r: r["tokens_per_s"])
    best_worker = max(workers, key=lambda r: r["tokens_per_s"])
    return {
        "model": model, "prompts": prompts, "batch_size": gen.batch_size, "max_tokens": gen.sampling.max_tokens,
        "strategies": [s.name.value for s in gen.strategies or ()], "load_seconds": load_s,
        "worker_tokens_per_s": best_worker["tokens_per_s"], "bare_tokens_per_s": best_bare["tokens_per_s"],
        "ratio": best_worker["tokens_per_s"] / best_bare["tokens_per_s"],
        # Of the best worker run (the one `worker_tokens_per_s` is from).
        "outside_generate_share": best_worker["outside_generate_share"],
        "outside_generate_s": best_worker["outside_generate_s"],
        "outside_generate_s_by_part": best_worker["outside_generate_s_by_part"],
        "bare_vllm_generate": best_bare, "worker": best_worker,
        "runs": {"bare_tokens_per_s": [r["tokens_per_s"] for r in bares],
                 "worker_tokens_per_s": [r["tokens_per_s"] for r in workers]},
    }


def _sampling(spec: dict[str, Any]) -> Any:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.engines import sampling_config

    gen = DataFoundryJobSpec.model_validate(spec).generator
    assert gen is not None
    return sampling_config(gen)


async def _raw(base_url: str, model: str, requests: list[Any], spec: dict[str, Any], concurrency: int) -> int:
    from openai import AsyncOpenAI

    sampling = _sampling(spec)
    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=300)
    sem = asyncio.Semaphore(concurrency)

    async def one(r: Any) -> int:
        kwargs: dict[str, Any] = {"stop": list(r.stop)} if r.stop else {}
        if r.schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "record", "schema": r.schema, "strict": True}}
        async with sem:
            resp = await client.chat.completions.create(
                model=model, messages=list(r.messages),
                temperature=sampling.temperature if r.temperature is None else r.temperature,
                top_p=sampling.top_p, max_tokens=r.max_tokens or sampling.max_tokens, seed=r.seed, n=1, **kwargs)
            return resp.usage.completion_tokens if resp.usage else 0

    try:
        return sum(await asyncio.gather(*(one(r) for r in requests)))
    finally:
        await client.close()


def server(model: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from datafoundry.engines import sampling_config
    from datafoundry.engines.openai import OpenAIEngine
    from datafoundry.engines.server import start_vllm_server

    srv = start_vllm_server(Path(model), root, served_model_name="tiny-llama")
    try:
        engine_spec = {"type": "openai", "endpoint": srv.base_url, "modelName": srv.model,
                       "maxConcurrency": args.concurrency}
        spec = make_spec(srv.model, f"file://{root}/server", args, engine_spec)
        requests = requests_for(context(spec, "probe"), args.server_prompts)
        from datafoundry.api.spec import DataFoundryJobSpec

        gen = DataFoundryJobSpec.model_validate(spec).generator
        assert gen is not None
        engine = OpenAIEngine(srv.base_url, srv.model, sampling_config(gen), max_concurrency=args.concurrency)
        engine.generate(requests[:8])  # warm up
        runs: dict[str, list[dict[str, float]]] = {"raw": [], "engine": []}
        sides: dict[str, Callable[[], int]] = {  # each returns the completion tokens of one run
            "raw": lambda: asyncio.run(_raw(srv.base_url, srv.model, requests, spec, args.concurrency)),
            "engine": lambda: sum(c.completion_tokens for c in engine.generate(requests)),
        }
        # Alternate which side goes first: on a shared machine the server warms up and other work comes
        # and goes, and a fixed order would hand that drift to one side.
        for i in range(args.server_repeats):
            for side in (("raw", "engine") if i % 2 == 0 else ("engine", "raw")):
                t = time.perf_counter()
                tokens = sides[side]()
                s = time.perf_counter() - t
                runs[side].append({"seconds": s, "completion_tokens": tokens, "tokens_per_s": tokens / s})
        raws, engs = runs["raw"], runs["engine"]
        engine.close()
        best_raw = max(raws, key=lambda r: r["tokens_per_s"])
        best_eng = max(engs, key=lambda r: r["tokens_per_s"])
        return {"prompts": args.server_prompts, "concurrency": args.concurrency,
                "raw_async_openai": best_raw, "openai_engine": best_eng,
                "ratio": best_eng["tokens_per_s"] / best_raw["tokens_per_s"],
                "runs": {"raw_tokens_per_s": [r["tokens_per_s"] for r in raws],
                         "engine_tokens_per_s": [r["tokens_per_s"] for r in engs]}}
    except Exception:
        print(srv.log_tail(80), file=sys.stderr)
        raise
    finally:
        srv.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="OUT", help="also write the result here")
    p.add_argument("--model", help="tiny model directory (default: the tiny random Llama of the test bed)")
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128, help="generator.batchSize (chunk size)")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--max-chars", type=int, default=60, help="maxChars option of the strategies")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--smollm2-model", help="SmolLM2 directory (default: hack/make-smollm2-model.py's)")
    p.add_argument("--smollm2-prompts", type=int, default=32)
    p.add_argument("--smollm2-max-tokens", type=int, default=256)
    p.add_argument("--smollm2-repeats", type=int, default=2)
    p.add_argument("--server-prompts", type=int, default=128)
    p.add_argument("--server-repeats", type=int, default=4, help="pairs of runs against the server (best of each)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--skip-tiny", action="store_true")
    p.add_argument("--skip-smollm2", action="store_true")
    p.add_argument("--skip-server", action="store_true")
    args = p.parse_args()
    cpu_env()
    tiny = args.model or str(make_tiny_model())
    result: dict[str, Any] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="df-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_tiny:
            spec = make_spec(tiny, f"file://{root}/tiny", args, {"type": "vllm"})
            result["tiny"] = offline(tiny, spec, args.prompts, args.repeats)
            print(json.dumps(result["tiny"]), file=sys.stderr, flush=True)
        if not args.skip_smollm2:
            smollm2 = args.smollm2_model or str(make_smollm2_model())
            spec = quickstart_spec(smollm2, f"file://{root}/smollm2", args.smollm2_prompts, args.smollm2_max_tokens)
            result["smollm2"] = offline(smollm2, spec, args.smollm2_prompts, args.smollm2_repeats)
            print(json.dumps(result["smollm2"]), file=sys.stderr, flush=True)
        if not args.skip_server:
            result["server"] = server(tiny, root, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

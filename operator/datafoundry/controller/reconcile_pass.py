"""One reconcile pass of one DataFoundryJob: observe, decide, act, write the status.

The pass reads the job's children from the informer's slim caches (no API reads), decides with the
pure `reconcile.decide`, creates or deletes children, and writes the status only when something a
reader would notice changed. Everything it remembers (`JobState`) is a cache of what the cluster
says: a restarted operator's first pass rebuilds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import kopf
from pydantic import ValidationError

from datafoundry.api.errors import field_errors
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.controller import children as ch
from datafoundry.controller import conditions as cond
from datafoundry.controller import gpu, kube, metrics, reasons
from datafoundry.controller.live import running_shards
from datafoundry.controller.observe import (
    ChildJob,
    child_job_states,
    finished_stages,
    observe,
    one_job_stage_counts,
    parse_time,
)
from datafoundry.controller.owner import Owner
from datafoundry.controller.reconcile import Decision, decide, refused
from datafoundry.controller.registry import JobRegistry, JobState
from datafoundry.controller.runtime import Runtime
from datafoundry.controller.status import build_status, invalid_status
from datafoundry.controller.status_events import status_events
from datafoundry.pipeline.plan import JobRef, build_plan

# Fields that change on every pass; a status differing only in these is not worth a write.
VOLATILE_PROGRESS = ("lastUpdateTime", "etaSeconds")
# GPU-hours grow on every pass while GPU pods run: written with other changes then; once none runs the
# final count is worth a write of its own (a restarted operator rebuilds its account from it).
VOLATILE_WHILE_GPU_PODS_RUN = (*VOLATILE_PROGRESS, "gpuHours")


def significant(status: dict[str, Any], gpu_pods_running: bool = False) -> dict[str, Any]:
    """`status` without the fields whose change alone is not worth a write."""
    volatile = VOLATILE_WHILE_GPU_PODS_RUN if gpu_pods_running else VOLATILE_PROGRESS
    out = dict(status)
    if "progress" in out:
        out["progress"] = {k: v for k, v in out["progress"].items() if k not in volatile}
    return out


def _record_phase(jobs: JobRegistry, state: JobState, owner: Owner, phase: str | None, *, seen: bool = True) -> None:
    """Count the job in its phase. `seen=False`: a job found in this phase (a finished job at start-up),
    which is no transition and is not counted as one."""
    if phase is None or state.phase == phase:
        return
    state.phase = phase
    metrics.set_phase(owner.namespace, owner.name, phase, owner.uid)
    if seen:
        metrics.phase_transitions_total.labels(phase).inc()
    counts = jobs.phases()
    for p in {*metrics.PHASES, *counts}:
        metrics.jobs.labels(p).set(counts.get(p, 0))


def _post_events(body: kopf.Body, old: dict[str, Any], new: dict[str, Any]) -> None:
    for event in status_events(old, new):
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


async def _ensure_plan(state: JobState, body: kopf.Body, spec: DataFoundryJobSpec, owner: Owner) -> str:
    """Write the plan ConfigMap once per job (the recipe is immutable once started; a restarted
    operator checks again, cheaply: 409, then reads it). Returns the recipe hash of the plan that exists,
    which after a budget raise is not the hash of the current spec."""
    if state.plan_recipe is not None:
        return state.plan_recipe
    spec_json = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    ref = JobRef(name=owner.name, namespace=owner.namespace, uid=owner.uid, generation=body.meta.get("generation", 1))
    plan = build_plan(ref, spec_json)
    plan_json = plan.to_json()
    ch.check_plan_size(plan_json, spec_json)
    manifest = ch.plan_configmap(owner, plan_json)
    if await kube.create(manifest):
        kopf.event(body, type="Normal", reason=reasons.CREATED_PLAN,
                   message=f"plan {manifest['metadata']['name']} (recipe {plan.recipe_hash[:12]})")
        state.plan_recipe = plan.recipe_hash
        return plan.recipe_hash
    existing = await kube.read_configmap(owner.namespace, manifest["metadata"]["name"])
    if existing is None:
        raise kopf.TemporaryError("plan ConfigMap deleted while it was being created", delay=1)
    plan_owner, recipe = ch.plan_facts(existing)
    if plan_owner not in (None, owner.uid):
        # A previous job of the same name still owns it; the garbage collector removes it soon.
        raise kopf.TemporaryError("plan ConfigMap of a previous job still exists", delay=5)
    # The plan is never rewritten (running pods mount it), so the hash recorded is the hash of the plan
    # the ConfigMap holds: a spec change since (a raised budget) is not in it.
    state.plan_recipe = recipe or plan.recipe_hash
    return state.plan_recipe


async def _apply(body: kopf.Body, namespace: str, decision: Decision) -> None:
    """Create, then delete, what the decision says; one Event per pass for each, naming the children
    (an Event per child would double the operator's writes at a thousand jobs)."""
    await _act(body, "created", reasons.CREATED_JOB, reasons.FAILED_TO_CREATE_JOB,
               [(f"{obj['kind']} {obj['metadata']['name']}", partial(kube.create, obj)) for obj in decision.creates])
    await _act(body, "deleted", reasons.DELETED_JOB, reasons.FAILED_TO_DELETE_JOB,
               [(f"Job {child}", partial(kube.delete_job, namespace, child)) for child in decision.deletes])


async def _act(body: kopf.Body, verb: str, done_reason: str, failed_reason: str,
               actions: list[tuple[str, Callable[[], Awaitable[bool | None]]]]) -> None:
    """Run the named actions in order. The first that raises is a Warning Event (`failed_reason`) and
    ends the pass; the ones done before it are one Normal Event (`done_reason`). An action answering
    False did nothing (a create of a child that exists) and is not named."""
    done: list[str] = []
    try:
        for name, action in actions:
            try:
                if await action() is not False:
                    done.append(name)
            except Exception as e:
                kopf.event(body, type="Warning", reason=failed_reason, message=f"{name}: {e}")
                raise
    finally:
        if done:
            kopf.event(body, type="Normal", reason=done_reason, message=f"{verb} " + ", ".join(done))


def _terminal(status: dict[str, Any]) -> bool:
    conditions = status.get("conditions") or []
    failed = cond.find(conditions, cond.FAILED)
    if failed and failed.get("status") == "True" and failed.get("reason") == reasons.INVALID_SPEC:
        return False  # the user may still fix the spec
    return cond.is_true(conditions, cond.SUCCEEDED) or cond.is_true(conditions, cond.FAILED)


async def _refuse(rt: Runtime, state: JobState, body: kopf.Body, owner: Owner, old: dict[str, Any],
                  generation: int, message: str) -> None:
    """Failed with InvalidSpec (the user may still fix the spec: not terminal), naming the fields."""
    new = invalid_status(old, generation, reasons.INVALID_SPEC, message)
    if significant(new) != significant(old):
        await kube.patch_status(owner.namespace, owner.name, new)
        _post_events(body, old, new)
    _record_phase(rt.jobs, state, owner, new["phase"])


def _forget_later(rt: Runtime, owner: Owner, completion_time: str | None) -> None:
    """Drop a finished job's series once the grace period after its completionTime has passed; a job
    that finished longer ago than that (found at start-up) has none exported at all."""
    done = parse_time(completion_time)
    remaining = metrics.remaining_grace(done.timestamp() if done else None,
                                        rt.config.finished_job_metrics_seconds, datetime.now(UTC).timestamp())
    if remaining <= 0:
        metrics.forget_job(owner.namespace, owner.name, owner.uid)
        return
    asyncio.get_running_loop().call_later(remaining, metrics.forget_job, owner.namespace, owner.name, owner.uid)


def _shards(decision: Decision, jobs: tuple[ChildJob, ...]) -> dict[str, dict[str, int]]:
    """The shards gauge: the status's counts, with dedup and publish told apart (the status counts a
    running dedup as the publish shard; the stalled alert must see which one runs)."""
    out: dict[str, dict[str, int]] = {s: sc.model_dump() for s, sc in decision.shards.items()}
    for stage in (Stage.DEDUP, Stage.PUBLISH):
        out[stage] = one_job_stage_counts(jobs, stage)
    return out


def _time_stages(state: JobState, jobs: Iterable[ChildJob]) -> None:
    """Observe each stage's duration once, when all its Jobs completed; a stage that ended before this
    process started was observed by the one before it."""
    for span in finished_stages(jobs):
        key = (span.stage, span.round)
        if key in state.stages_timed:
            continue
        state.stages_timed.add(key)
        if span.end.timestamp() >= metrics.STARTED_AT:
            metrics.stage_duration_seconds.labels(span.stage).observe(max(0.0, span.seconds))


async def reconcile_once(rt: Runtime, state: JobState, body: kopf.Body, owner: Owner) -> bool:
    """One pass; True when the job is finished (succeeded or failed for good)."""
    name, namespace, uid = owner.name, owner.namespace, owner.uid
    old: dict[str, Any] = dict(body.get("status") or {})
    generation = int(body.meta.get("generation") or 1)
    if _terminal(old):
        first = state.phase is None
        _record_phase(rt.jobs, state, owner, old.get("phase"), seen=not first)
        if first:
            _forget_later(rt, owner, old.get("completionTime"))
        return True
    spec = state.spec_of(generation)
    if spec is None:
        try:
            spec = DataFoundryJobSpec.model_validate(dict(body.spec))
        except ValidationError as e:
            message = "; ".join(str(fe) for fe in field_errors(e, prefix="spec"))
            await _refuse(rt, state, body, owner, old, generation, message)
            return False
        state.spec = (generation, spec)
    if cond.find(old.get("conditions") or [], cond.FAILED):
        old["conditions"] = [c for c in old["conditions"] if c["type"] not in (cond.FAILED, cond.ACCEPTED)]
    try:
        recipe = await _ensure_plan(state, body, spec, owner)
    except (ch.PlanTooLarge, kube.Refused) as e:
        await _refuse(rt, state, body, owner, old, generation, f"plan ConfigMap: {e}")
        return False
    pods = rt.children.pods.of(uid)
    observed = observe(rt.children.jobs.of(uid), pods)
    account = state.gpu = gpu.account(state.gpu, pods, old.get("progress") or {}, datetime.now(UTC))
    rt.live.refresh(uid, spec, running_shards(observed), on_change=state.wake.set)
    state.started.update(j.name for j in observed.jobs if not j.suspended and not j.finished)
    decision = decide(owner=owner, spec=spec, observed=observed, config=rt.config,
                      start_time=parse_time(old.get("startTime")), live=rt.live.latest(uid), gpu_hours=account.hours,
                      started=state.started)
    try:
        await _apply(body, namespace, decision)
    except kube.Refused as e:
        decision = refused(decision, observed, f"{e}{ch.refusal_hint(str(e))}")
        await _apply(body, namespace, decision)
    new = build_status(old, decision, generation=generation, target=spec.target.records,
                       output_uri=spec.output.uri, plan_hash=recipe,
                       plan_config_map=ch.plan_configmap_name(name),
                       gpu_hours_of_deleted_pods=account.deleted_hours)
    # Write only what a reader would notice: not the clock fields alone, so idle jobs cost nothing.
    if significant(new, account.running > 0) != significant(old, account.running > 0):
        await kube.patch_status(namespace, name, new)
        _post_events(body, old, new)
        if decision.warning and decision.succeeded is not None:
            kopf.event(body, type="Warning", reason=reasons.BUDGET_EXHAUSTED, message=decision.warning)
    c = decision.counts
    metrics.observe_job(namespace, name, generated=c.generated, accepted=c.accepted, target=spec.target.records,
                        rejected=c.rejected, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                        shards=_shards(decision, observed.jobs),
                        quality=(new.get("output") or {}).get("quality"), gpu_hours=account.hours,
                        eta_seconds=(new.get("progress") or {}).get("etaSeconds"),
                        child_jobs=child_job_states(observed.jobs), uid=uid)
    _time_stages(state, observed.jobs)
    _record_phase(rt.jobs, state, owner, new["phase"])
    finished = decision.succeeded is not None or decision.failed is not None
    if finished:
        _forget_later(rt, owner, new.get("completionTime"))
        rt.live.forget(uid)
        state.gpu = None
        start, end = parse_time(new.get("startTime")), parse_time(new.get("completionTime"))
        if start and end:
            metrics.job_duration_seconds.labels(new["phase"]).observe((end - start).total_seconds())
    return finished

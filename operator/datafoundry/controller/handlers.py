"""kopf handlers: one supervising daemon per DataFoundryJob, woken by its children's events.

Level-based: each pass reads the job's child Jobs and pods from the informer's slim caches (no API
reads), decides with the pure `reconcile.decide`, creates or deletes children, and writes the status only
when something a reader would notice changed. A timer pass aggregates live progress from the
workers' progress objects. A finished job's daemon exits, so idle jobs cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from datafoundry.api import keys
from datafoundry.api.errors import field_errors
from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller import conditions as cond
from datafoundry.controller import gpu, kube, metrics, reasons
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.informer import Children
from datafoundry.controller.live import LiveProgress, running_shards
from datafoundry.controller.observe import job_essentials, observe, pod_essentials
from datafoundry.controller.progress import remove_staging
from datafoundry.controller.reconcile import Decision, decide
from datafoundry.controller.status import build_status, invalid_status, parse_time
from datafoundry.pipeline.plan import JobRef, build_plan

log = logging.getLogger(__name__)
CONFIG = OperatorConfig.from_env()
_wake: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
_phases: dict[tuple[str, str], str] = {}
_planned: dict[str, str] = {}  # uid -> recipe hash whose plan ConfigMap is known to exist
# uid -> (generation, validated spec): a spec only changes with its generation, so each pass after
# the first skips pydantic validation.
_specs: dict[str, tuple[int, DataFoundryJobSpec]] = {}
# uid -> GPU-hours accounting of the generator pods seen at the last pass (rebuilt from the status
# after a restart: see controller/gpu.py).
_gpu: dict[str, gpu.GPUAccount] = {}
# The workers' live progress as last read from S3, refreshed in the background (never waited for).
# Passes between two readings reuse the last one: without it the live counts, and the status, would flap.
LIVE = LiveProgress(CONFIG.progress_interval_seconds, CONFIG.live_progress_reads_per_second)
# Fields that change on every pass; a status differing only in these is not worth a write.
VOLATILE_PROGRESS = ("lastUpdateTime", "etaSeconds")
# GPU-hours grow on every pass while GPU pods run: written with other changes then; once none runs the
# final count is worth a write of its own (a restarted operator rebuilds its account from it).
VOLATILE_WHILE_GPU_PODS_RUN = (*VOLATILE_PROGRESS, "gpuHours")
#: Passes of one job that may start within `min_pass_interval_seconds` of each other.
PASS_BURST = 2


def wake(uid: str | None) -> None:
    """Must run on the event loop (asyncio.Event is not thread-safe): callers are async handlers."""
    if uid:
        _wake[uid].set()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # A strict status schema prunes kopf's own bookkeeping: keep it in annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # kopf turns handler log lines into Events; ours are explicit, so only warnings become Events.
    settings.posting.level = logging.WARNING
    # Reconnect watches regularly so a restarted API server is noticed without a human.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.reconnect_backoff = 1.0
    # kopf's default (1, 1, 2, 3, 5, 8, 13, 21) gives up on the API server after 54 s (a watch that
    # gives up stops the operator) and may wait 21 s after it is back. Short steps for about 2 minutes.
    settings.networking.error_backoffs = (1, 1, 2, 3, *[5] * 12, *[10] * 6)
    settings.execution.max_workers = 20
    # No CRD/namespace scanning: the resources are known, and it would need more RBAC.
    settings.scanning.disabled = True
    # A restarted operator lists the jobs in pages, not in one response.
    settings.watching.chunk_size = 500
    metrics.preinitialise()


CHILDREN = Children(keys.LABEL_JOB_UID, job=job_essentials, pod=pod_essentials)


def _wake_all(uids: set[str]) -> None:
    for uid in uids:
        wake(uid)


@kopf.on.startup()
async def watch_children(memo: kopf.Memo, **_: Any) -> None:
    # The operator's namespaces (run_operator puts them in the memo), or the whole cluster when empty:
    # a namespaced install's Roles forbid a cluster-wide watch.
    CHILDREN.start(getattr(memo, "namespaces", CONFIG.namespaces), on_change=_wake_all)


@kopf.on.cleanup()
async def stop_watching_children(**_: Any) -> None:
    CHILDREN.stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_job_event(uid: str | None, meta: kopf.Meta, **_: Any) -> None:
    # Only a new spec is news to the daemon: most events are its own status writes coming back,
    # and a pass for each would double the passes (kopf updates the daemon's body either way).
    seen = _specs.get(uid or "")
    if seen is None or seen[0] != int(meta.get("generation") or 1):
        wake(uid)


def _record_phase(namespace: str, name: str, phase: str | None) -> None:
    old = _phases.get((namespace, name))
    if phase is None or old == phase:
        return
    _phases[(namespace, name)] = phase
    metrics.phase_transitions_total.labels(phase).inc()
    counts = dict.fromkeys(metrics.PHASES, 0)
    for p in _phases.values():
        counts[p] = counts.get(p, 0) + 1
    for p, n in counts.items():
        metrics.jobs.labels(p).set(n)


def _significant(status: dict[str, Any], gpu_pods_running: bool = False) -> dict[str, Any]:
    volatile = VOLATILE_WHILE_GPU_PODS_RUN if gpu_pods_running else VOLATILE_PROGRESS
    out = dict(status)
    if "progress" in out:
        out["progress"] = {k: v for k, v in out["progress"].items() if k not in volatile}
    return out


def _events(body: kopf.Body, old: dict[str, Any], new: dict[str, Any]) -> None:
    """An Event for every phase change and every condition that became True."""
    if old.get("phase") != new.get("phase"):
        kind = "Warning" if new.get("phase") == "Failed" else "Normal"
        failed = cond.find(new.get("conditions") or [], cond.FAILED)
        message = failed["message"] if failed and kind == "Warning" else f"phase {new.get('phase')}"
        kopf.event(body, type=kind, reason=str(new.get("phase")), message=message)


async def _ensure_plan(body: kopf.Body, spec: DataFoundryJobSpec, name: str, namespace: str, uid: str) -> str:
    """Write the plan ConfigMap once per job (the recipe is immutable once started; a restarted
    operator checks again, cheaply: 409, then reads it). Returns the recipe hash of the plan that exists,
    which after a budget raise is not the hash of the current spec."""
    if uid in _planned:
        return _planned[uid]
    spec_json = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    plan = build_plan(JobRef(name=name, namespace=namespace, uid=uid, generation=body.meta.get("generation", 1)),
                      spec_json)
    plan_json = plan.to_json()
    ch.check_plan_size(plan_json, spec_json)
    manifest = ch.plan_configmap(name, namespace, uid, plan_json)
    if await kube.create(manifest):
        kopf.event(body, type="Normal", reason=reasons.CREATED_PLAN,
                   message=f"plan {manifest['metadata']['name']} (recipe {plan.recipe_hash[:12]})")
        _planned[uid] = plan.recipe_hash
        return plan.recipe_hash
    existing = await kube.read_configmap(namespace, manifest["metadata"]["name"])
    if existing is None:
        raise kopf.TemporaryError("plan ConfigMap deleted while it was being created", delay=1)
    owner, recipe = ch.plan_facts(existing)
    if owner not in (None, uid):
        # A previous job of the same name still owns it; the garbage collector removes it soon.
        raise kopf.TemporaryError("plan ConfigMap of a previous job still exists", delay=5)
    # The plan is never rewritten (running pods mount it), so the hash recorded is the hash of the plan
    # the ConfigMap holds: a spec change since (a raised budget) is not in it.
    _planned[uid] = recipe or plan.recipe_hash
    return _planned[uid]


async def _apply(body: kopf.Body, namespace: str, decision: Decision) -> None:
    """Create and delete what the decision says; one Event per pass for each, naming the children
    (an Event per child would double the operator's writes at a thousand jobs)."""
    created: list[str] = []
    try:
        for obj in decision.creates:
            kind, child = obj["kind"], obj["metadata"]["name"]
            try:
                if await kube.create(obj):
                    created.append(f"{kind} {child}")
            except Exception as e:
                kopf.event(body, type="Warning", reason=reasons.FAILED_TO_CREATE_JOB, message=f"{kind} {child}: {e}")
                raise
    finally:
        if created:
            kopf.event(body, type="Normal", reason=reasons.CREATED_JOB, message="created " + ", ".join(created))
    deleted: list[str] = []
    try:
        for child in decision.deletes:
            try:
                await kube.delete_job(namespace, child)
                deleted.append(f"Job {child}")
            except Exception as e:
                kopf.event(body, type="Warning", reason=reasons.FAILED_TO_DELETE_JOB, message=f"Job {child}: {e}")
                raise
    finally:
        if deleted:
            kopf.event(body, type="Normal", reason=reasons.DELETED_JOB, message="deleted " + ", ".join(deleted))


def _terminal(status: dict[str, Any]) -> bool:
    conditions = status.get("conditions") or []
    failed = cond.find(conditions, cond.FAILED)
    if failed and failed.get("status") == "True" and failed.get("reason") == reasons.INVALID_SPEC:
        return False  # the user may still fix the spec
    return cond.is_true(conditions, cond.SUCCEEDED) or cond.is_true(conditions, cond.FAILED)


async def _refuse(body: kopf.Body, name: str, namespace: str, old: dict[str, Any], generation: int,
                  message: str) -> None:
    """Failed with InvalidSpec (the user may still fix the spec: not terminal), naming the fields."""
    new = invalid_status(old, generation, reasons.INVALID_SPEC, message)
    if _significant(new) != _significant(old):
        await kube.patch_status(namespace, name, new)
        _events(body, old, new)
    _record_phase(namespace, name, new["phase"])


async def reconcile_once(
    body: kopf.Body, name: str, namespace: str, uid: str, jobs: list[Any], pods: list[Any]
) -> bool:
    """One pass; True when the job is finished (succeeded or failed for good)."""
    old: dict[str, Any] = dict(body.get("status") or {})
    generation = int(body.meta.get("generation") or 1)
    if _terminal(old):
        _record_phase(namespace, name, old.get("phase"))
        return True
    cached = _specs.get(uid)
    if cached is not None and cached[0] == generation:
        spec = cached[1]
    else:
        try:
            spec = DataFoundryJobSpec.model_validate(dict(body.spec))
        except ValidationError as e:
            message = "; ".join(str(fe) for fe in field_errors(e, prefix="spec"))
            await _refuse(body, name, namespace, old, generation, message)
            return False
        _specs[uid] = (generation, spec)
    if cond.find(old.get("conditions") or [], cond.FAILED):
        old["conditions"] = [c for c in old["conditions"] if c["type"] not in (cond.FAILED, cond.ACCEPTED)]
    try:
        recipe = await _ensure_plan(body, spec, name, namespace, uid)
    except (ch.PlanTooLarge, kube.Refused) as e:
        await _refuse(body, name, namespace, old, generation, f"plan ConfigMap: {e}")
        return False
    observed = observe(jobs, pods, plan_exists=True)
    account = _gpu[uid] = gpu.account(_gpu.get(uid), pods, old.get("progress") or {}, datetime.now(UTC))
    LIVE.refresh(uid, spec, running_shards(observed), on_change=lambda: wake(uid))
    live = LIVE.latest(uid)
    decision = decide(name=name, namespace=namespace, uid=uid, spec=spec, observed=observed, config=CONFIG,
                      start_time=parse_time(old.get("startTime")), live=live, gpu_hours=account.hours)
    try:
        await _apply(body, namespace, decision)
    except kube.Refused as e:
        # A spec the API server accepted produced a child it refuses: no retry fixes that.
        decision.failed = (reasons.FAILED_TO_CREATE_JOB, f"{e}{ch.refusal_hint(str(e))}")
        decision.creates = []
        decision.deletes = [j.name for j in observed.jobs if not j.finished and not j.deleting]
        await _apply(body, namespace, decision)
    new = build_status(old, decision, generation=generation, target=spec.target.records,
                       output_uri=spec.output.uri, plan_hash=recipe,
                       plan_config_map=ch.plan_configmap_name(name),
                       gpu_hours_of_deleted_pods=account.deleted_hours)
    # Write only what a reader would notice: not the clock fields alone, so idle jobs cost nothing.
    if _significant(new, account.running > 0) != _significant(old, account.running > 0):
        await kube.patch_status(namespace, name, new)
        _events(body, old, new)
        if decision.warning and decision.succeeded is not None:
            kopf.event(body, type="Warning", reason=reasons.BUDGET_EXHAUSTED, message=decision.warning)
    c = decision.counts
    metrics.observe_job(namespace, name, generated=c.generated, accepted=c.accepted, target=spec.target.records,
                        rejected=c.rejected, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                        shards={s: sc.model_dump() for s, sc in decision.shards.items()},
                        quality=(new.get("output") or {}).get("quality"), gpu_hours=account.hours)
    _record_phase(namespace, name, new["phase"])
    finished = decision.succeeded is not None or decision.failed is not None
    if finished:
        LIVE.forget(uid)
        _gpu.pop(uid, None)
        start, end = parse_time(new.get("startTime")), parse_time(new.get("completionTime"))
        if start and end:
            metrics.job_duration_seconds.labels(new["phase"]).observe((end - start).total_seconds())
    return finished


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def supervise(
    body: kopf.Body, name: str, namespace: str | None, uid: str, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    assert namespace is not None, "DataFoundryJob is namespaced"
    event = _wake[uid]
    await CHILDREN.listed()
    failures = 0
    loop = asyncio.get_running_loop()
    recent: deque[float] = deque(maxlen=PASS_BURST)  # start times of the last passes
    while not stopped:
        event.clear()
        recent.append(loop.time())
        try:
            with metrics.reconcile_timer():
                finished = await reconcile_once(
                    body, name, namespace, uid, CHILDREN.jobs.of(uid), CHILDREN.pods.of(uid))
        except Exception as e:
            # The API server restarting, a conflict, a quota...: the next pass recomputes everything from
            # what exists, so retry it soon. Letting the daemon fail would idle the job for kopf's 60 s.
            delay = e.delay if isinstance(e, kopf.TemporaryError) and e.delay else min(30.0, 2.0**failures)
            failures += 1
            log.warning("reconciling %s/%s failed (%s: %s); again in at most %.0fs", namespace, name,
                        type(e).__name__, e, delay)
            # At the latest after `delay`; sooner when the children change (the watches are back).
            await asyncio.sleep(min(1.0, delay))
            await _woken(event, delay - 1.0)
            continue
        failures = 0
        if finished:
            await _expire(body, name, namespace, stopped)
            return
        # Children change in bursts (a Job and its pods, shards finishing together): passes for the
        # burst instead of one per event keep status writes near one per job per interval. A stage's
        # end (its pod, then its Job) still gets its two passes at once, so small jobs do not wait.
        if len(recent) == PASS_BURST:
            await asyncio.sleep(max(0.0, recent[0] + CONFIG.min_pass_interval_seconds - loop.time()))
        await _woken(event, CONFIG.progress_interval_seconds - CONFIG.min_pass_interval_seconds)


async def _woken(event: asyncio.Event, timeout: float) -> None:
    """Until `event` is set or `timeout` seconds have passed."""
    if timeout <= 0:
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


#: Half-second waits for a finished job's completionTime to reach the daemon's body (a minute).
EXPIRE_STATUS_WAITS = 120


async def _expire(body: kopf.Body, name: str, namespace: str, stopped: kopf.DaemonStopped) -> None:
    """ttlSecondsAfterFinished: delete the job (the garbage collector takes its children)."""
    ttl = body.spec.get("ttlSecondsAfterFinished")
    if ttl is None:
        return
    # The pass that finished the job has just written completionTime; the daemon's live body shows
    # it once the watch event arrives (returning without it left the job in place for good).
    done = parse_time((body.get("status") or {}).get("completionTime"))
    for _ in range(EXPIRE_STATUS_WAITS):
        if done is not None or await stopped.wait(0.5):
            break
        done = parse_time((body.get("status") or {}).get("completionTime"))
    if done is None:
        log.warning("%s/%s finished but its completionTime never showed; ttlSecondsAfterFinished not applied",
                    namespace, name)
        return
    delay = (done + timedelta(seconds=int(ttl)) - datetime.now(UTC)).total_seconds()
    if delay > 0 and await stopped.wait(delay):
        return
    await kube.delete_job_resource(namespace, name)


@kopf.on.delete(GROUP, VERSION, PLURAL, retries=5, backoff=2)
async def cleanup(body: kopf.Body, name: str, namespace: str | None, uid: str, retry: int, **_: Any) -> None:
    """Remove the job's staging objects; the published dataset is kept. Children go by ownerReferences."""
    assert namespace is not None, "DataFoundryJob is namespaced"
    metrics.forget_job(namespace, name)
    _phases.pop((namespace, name), None)
    _wake.pop(uid, None)
    _planned.pop(uid, None)
    _specs.pop(uid, None)
    _gpu.pop(uid, None)
    LIVE.forget(uid)
    try:
        spec = DataFoundryJobSpec.model_validate(dict(body.spec))
    except ValidationError:
        return  # never started: nothing was staged
    try:
        removed = await asyncio.to_thread(remove_staging, spec, uid)
    except Exception as e:
        if retry < 4:
            raise kopf.TemporaryError(f"removing staging objects failed: {e}", delay=2) from e
        kopf.event(body, type="Warning", reason=reasons.FAILED_TO_CLEAN_STAGING,
                   message=f"gave up removing _staging/{uid}/ after {retry + 1} tries: {e}")
        return
    kopf.event(body, type="Normal", reason=reasons.CLEANED_STAGING, message=f"removed {removed} staging objects")

"""A DataFoundryJob's life in the operator: its daemon's loop of passes, its expiry, its deletion.

One daemon per job runs passes (`reconcile_pass.reconcile_once`) when its children change, when live
progress moves, and at least every progress interval; a finished job's daemon applies
ttlSecondsAfterFinished and exits, so idle jobs cost nothing. The job's `JobState` lives from its
daemon's start until its deletion.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime, timedelta

import kopf
from pydantic import ValidationError

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import kube, metrics, reasons
from datafoundry.controller.observe import parse_time
from datafoundry.controller.owner import Owner
from datafoundry.controller.reconcile_pass import reconcile_once
from datafoundry.controller.runtime import Runtime
from datafoundry.controller.staging import remove_staging

log = logging.getLogger(__name__)
#: Passes of one job that may start within `min_pass_interval_seconds` of each other.
PASS_BURST = 2
#: Half-second waits for a finished job's completionTime to reach the daemon's body (a minute).
EXPIRE_STATUS_WAITS = 120
#: Tries at removing a deleted job's staging objects before giving up with a Warning.
CLEANUP_TRIES = 5


async def supervise(rt: Runtime, body: kopf.Body, owner: Owner, stopped: kopf.DaemonStopped) -> None:
    """Passes until the job is finished (then its expiry) or the daemon is stopped."""
    state = rt.jobs.open(owner.uid)
    config = rt.config
    await rt.children.listed()
    failures = 0
    loop = asyncio.get_running_loop()
    recent: deque[float] = deque(maxlen=PASS_BURST)  # start times of the last passes
    while not stopped:
        state.wake.clear()
        recent.append(loop.time())
        try:
            with metrics.reconcile_timer():
                finished = await reconcile_once(rt, state, body, owner)
        except Exception as e:
            # The API server restarting, a conflict, a quota...: the next pass recomputes everything from
            # what exists, so retry it soon. Letting the daemon fail would idle the job for kopf's 60 s.
            delay = e.delay if isinstance(e, kopf.TemporaryError) and e.delay else min(30.0, 2.0**failures)
            failures += 1
            log.warning("reconciling %s/%s failed (%s: %s); again in at most %.0fs", owner.namespace, owner.name,
                        type(e).__name__, e, delay)
            # At the latest after `delay`; sooner when the children change (the watches are back).
            await asyncio.sleep(min(1.0, delay))
            await _woken(state.wake, delay - 1.0)
            continue
        failures = 0
        if finished:
            await _expire(body, owner, stopped)
            return
        # Children change in bursts (a Job and its pods, shards finishing together): passes for the
        # burst instead of one per event keep status writes near one per job per interval. A stage's
        # end (its pod, then its Job) still gets its two passes at once, so small jobs do not wait.
        if len(recent) == PASS_BURST:
            await asyncio.sleep(max(0.0, recent[0] + config.min_pass_interval_seconds - loop.time()))
        await _woken(state.wake, config.progress_interval_seconds - config.min_pass_interval_seconds)


async def _woken(event: asyncio.Event, timeout: float) -> None:
    """Until `event` is set or `timeout` seconds have passed."""
    if timeout <= 0:
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


async def _expire(body: kopf.Body, owner: Owner, stopped: kopf.DaemonStopped) -> None:
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
                    owner.namespace, owner.name)
        return
    delay = (done + timedelta(seconds=int(ttl)) - datetime.now(UTC)).total_seconds()
    if delay > 0 and await stopped.wait(delay):
        return
    await kube.delete_job_resource(owner.namespace, owner.name)


async def finalize(rt: Runtime, body: kopf.Body, owner: Owner, retry: int) -> None:
    """Forget the job, then remove its staging objects (the published dataset is kept; children go
    by ownerReferences). Raises kopf.TemporaryError for kopf to retry, up to CLEANUP_TRIES tries."""
    metrics.forget_job(owner.namespace, owner.name, owner.uid)
    rt.jobs.forget(owner.uid)
    rt.live.forget(owner.uid)
    try:
        spec = DataFoundryJobSpec.model_validate(dict(body.spec))
    except ValidationError:
        return  # never started: nothing was staged
    try:
        removed = await asyncio.to_thread(remove_staging, spec, owner.uid)
    except Exception as e:
        if retry < CLEANUP_TRIES - 1:
            raise kopf.TemporaryError(f"removing staging objects failed: {e}", delay=2) from e
        kopf.event(body, type="Warning", reason=reasons.FAILED_TO_CLEAN_STAGING,
                   message=f"gave up removing _staging/{owner.uid}/ after {retry + 1} tries: {e}")
        return
    kopf.event(body, type="Normal", reason=reasons.CLEANED_STAGING, message=f"removed {removed} staging objects")

"""The DataFoundryJob state machine as one pure function: observations in, a decision out.

Stages per round r: an Indexed generator Job (`<job>-gen-r<r>`); a filter Job per generated
shard, created as soon as that shard is done; a dedup Job over everything filtered so far
(`<job>-dedup-r<r>`), whose final counts are cumulative. If fewer records than the target
survived and the budget allows another round, round r+1 asks for the missing records scaled by
the acceptance seen so far. With `spec.evaluation.forgetting`, the forgetting guard's Job
(`<job>-eval`) measures the final records first, and a gate whose action is Fail can stop the job
there. Then one publish Job. With `spec.input` (curation) there is no
generator: round 0 filters the input shards directly.

Budgets: `maxRounds` spent with too few records publishes what passed (Succeeded, reason
BudgetExhausted). `maxGPUHours` (the generator pods' GPU-hours, `controller.gpu`) spent: no further
generator Job is created, neither a top-up round nor a round's Job again after a suspension; a
round's Job that exists is never cut short (child Jobs are create-only, and Kubernetes cannot stop
an Indexed Job's pending indexes without stopping its running ones), so its running shards finish
and the last round can overrun the budget. If that round met the target, the job publishes and
succeeds with a warning; if not, it fails with reason BudgetExhausted.

Everything is recomputed from what exists, so the operator can die between any two steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, GateAction
from datafoundry.api.stages import Stage
from datafoundry.api.status import Phase, ShardCounts
from datafoundry.controller import children as ch
from datafoundry.controller import gpu, reasons
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.observe import ChildJob, Observed, PodConfigError
from datafoundry.controller.owner import Owner
from datafoundry.pipeline.contract import EXIT_BAD_INPUT, Progress, ShardKey
from datafoundry.pipeline.counts import RecordCounts
from datafoundry.pipeline.plan import another_round, round_records

RESULT_GRACE_SECONDS = 120


@dataclass
class Decision:
    creates: list[dict[str, Any]] = field(default_factory=list)
    #: Unfinished child Jobs to delete (suspend, deadline, failure): their finished work stays in S3.
    deletes: list[str] = field(default_factory=list)
    stage: Phase = Phase.GENERATING
    round: int = 0
    counts: RecordCounts = field(default_factory=RecordCounts)
    #: The status' shard counters; dedup counts as part of publish.
    shards: dict[Stage, ShardCounts] = field(
        default_factory=lambda: {stage: ShardCounts() for stage in (Stage.GENERATE, Stage.FILTER, Stage.PUBLISH)}
    )
    generated_done: bool = False
    filtered_done: bool = False
    published: Progress | None = None
    suspended: bool = False
    failed: tuple[str, str] | None = None
    succeeded: tuple[str, str] | None = None
    waiting: str = ""
    #: GPU-hours of the generator pods so far (`controller.gpu`).
    gpu_hours: float = 0.0
    #: Said with a successful end, as a Warning event and in the Succeeded condition's message.
    warning: str | None = None
    #: The forgetting guard's headline (the evaluate pod's `Progress.forgetting`), once it is in.
    forgetting: dict[str, Any] | None = None
    #: The ForgettingGuard condition: (passed, reason, message), once the guard has measured.
    forgetting_guard: tuple[bool, str, str] | None = None
    #: Kueue's hold on the child Jobs (spec.queueName), as the Progressing condition's (reason, message):
    #: WaitingForAdmission while only suspended children are left, Preempted when one of them had
    #: started. None when no child waits for Kueue.
    admission: tuple[str, str] | None = None


def _failure(observed: Observed, job: ChildJob, what: str) -> tuple[str, str]:
    pod = observed.last_failure(job.name)
    detail = ""
    if pod is not None:
        text = pod.progress.message if pod.progress and pod.progress.message else pod.message
        detail = f": exit code {pod.exit_code}: {text.strip()[-1000:]}" if text else f": exit code {pod.exit_code}"
        if pod.exit_code == EXIT_BAD_INPUT:
            return reasons.BAD_INPUT, f"{what} {job.name} rejected its input{detail}"
    message = f"{what} {job.name} failed ({job.failed_reason}: {job.failed_message}){detail}"
    return reasons.SHARD_FAILED, message


def referenced_objects(spec: DataFoundryJobSpec) -> dict[str, list[str]]:
    """Secret/ConfigMap name -> the spec fields that name it (all resolved in the job's namespace)."""
    refs: dict[str, list[str]] = {}
    out = spec.output
    if out.credentials is not None and out.credentials.secret_ref is not None:
        refs.setdefault(out.credentials.secret_ref.name, []).append("spec.output.credentials.secretRef.name")
    if out.endpoint_ca is not None:
        refs.setdefault(out.endpoint_ca.name, []).append("spec.output.endpointCA.name")
    engines = [("spec.generator.engine", spec.generator.engine if spec.generator else None)]
    engines += [(f"spec.filters[{i}].engine", getattr(f, "engine", None)) for i, f in enumerate(spec.filters or ())]
    for path, engine in engines:
        if engine is not None and engine.api_key_secret_ref is not None:
            refs.setdefault(engine.api_key_secret_ref.name, []).append(f"{path}.apiKeySecretRef.name")
    return refs


_REFERENCED = re.compile(r'(?:secret|configmap) "([^"]+)"|(?:Secret|ConfigMap) [^/\s]+/([^\s"]+)', re.IGNORECASE)


def _config_failure(spec: DataFoundryJobSpec, error: PodConfigError) -> tuple[str, str]:
    message = f"pod {error.pod} of {error.job} cannot start ({error.reason}): {error.message}"
    refs = referenced_objects(spec)
    named = [g for m in _REFERENCED.finditer(error.message) for g in m.groups() if g]
    fields = [f for name in named for f in refs.get(name, [])]
    if fields:
        message += f" (named by {', '.join(fields)}; it must exist in the job's namespace)"
    return reasons.POD_CONFIG_ERROR, message


def _unfinished(observed: Observed) -> list[str]:
    return [j.name for j in observed.jobs if not j.finished and not j.deleting]


def _deadline_passed(spec: DataFoundryJobSpec, start_time: datetime | None, now: datetime) -> bool:
    if spec.active_deadline_seconds is None or start_time is None:
        return False
    return (now - start_time).total_seconds() > spec.active_deadline_seconds


def _result_overdue(job: ChildJob, now: datetime) -> bool:
    """A finished Job whose pod's counts have not shown up for RESULT_GRACE_SECONDS."""
    if not job.completion_time:
        return False
    done = datetime.fromisoformat(job.completion_time.replace("Z", "+00:00"))
    return (now - done).total_seconds() > RESULT_GRACE_SECONDS


def _single_job_result(d: Decision, observed: Observed, name: str, make: Callable[[], dict[str, Any]], what: str,
                       reports: str, now: datetime, stage: Stage = Stage.PUBLISH) -> Progress | None:
    """The report of the one-pod Job `name` (dedup, evaluate, publish) once it is in. Until then None, and
    `d` says why: the Job is created (`make`, unless suspended) or awaited, has failed, is running (the
    `stage` shard active: dedup counts as the publish shard), or its pod's report is awaited (the Job's and
    the pod's watch events arrive in either order) until RESULT_GRACE_SECONDS have passed and the job fails
    with MissingResult."""
    job = observed.job(name)
    if job is None or job.deleting:
        if job is None and not d.suspended:
            d.creates.append(make())
        return None
    if job.failed_reason is not None:
        d.failed = _failure(observed, job, f"{what} Job")
        return None
    if not job.complete:
        d.shards[stage].active = 1
        return None
    result = observed.final_progress(name)
    if result is None:
        if _result_overdue(job, now):
            d.failed = (reasons.MISSING_RESULT, f"{what} Job {name} finished without reporting {reports}")
        else:
            d.waiting = f"waiting for the result of {name}"
    return result


def admission(spec: DataFoundryJobSpec, observed: Observed, started: Collection[str]) -> tuple[str, str] | None:
    """What Kueue's hold on the child Jobs tells the user; None when no unfinished child is suspended.

    A child Job is created suspended when spec.queueName is set and Kueue unsuspends it on admission.
    Suspended again after it had started (`started`: the operator saw it admitted; or pods of it have
    finished) means Kueue stopped it (preempted by a higher-priority workload, or evicted): its pods are
    gone, its completed indexes stay complete, and only the others rerun once Kueue admits it again."""
    waiting = [j for j in observed.jobs if j.suspended and not j.finished and not j.deleting]
    if spec.suspend or not waiting:
        return None
    queue = f"LocalQueue {spec.queue_name}" if spec.queue_name else "its queue"
    stopped = [j for j in waiting if j.name in started or j.ran]
    if stopped:
        names = ", ".join(j.name for j in stopped)
        kept = sum(len(j.completed_indexes) for j in stopped)
        return (reasons.PREEMPTED,
                f"Kueue suspended {names} after it had started (preempted or evicted); its pods were stopped, "
                f"{kept} finished shard(s) are kept and the rest rerun when {queue} admits it again")
    running = [j for j in observed.jobs if not j.suspended and not j.finished and not j.deleting]
    names = ", ".join(j.name for j in waiting)
    if running:
        return (reasons.STAGE_RUNNING, f"{names} waiting for Kueue admission in {queue}")
    return reasons.WAITING_FOR_ADMISSION, f"waiting for Kueue admission of {names} in {queue}"


def decide(
    *,
    owner: Owner,
    spec: DataFoundryJobSpec,
    observed: Observed,
    config: OperatorConfig,
    start_time: datetime | None,
    now: datetime | None = None,
    live: Mapping[ShardKey, Progress] | None = None,
    gpu_hours: float = 0.0,
    started: Collection[str] = (),
) -> Decision:
    """`started`: child Jobs the operator saw admitted (not suspended) before (`admission`)."""
    now = now or datetime.now(UTC)
    live = live or {}
    d = Decision(gpu_hours=gpu_hours, admission=admission(spec, observed, started))
    max_gpu_hours = spec.budget.max_gpu_hours
    gpu_budget = (f"{gpu.hours_text(gpu_hours)} GPU-hours of "
                  f"spec.budget.maxGPUHours={gpu.hours_text(max_gpu_hours or 0)}")
    if _deadline_passed(spec, start_time, now):
        d.deletes = _unfinished(observed)
        d.failed = (reasons.DEADLINE_EXCEEDED, f"activeDeadlineSeconds={spec.active_deadline_seconds} exceeded")
        return d
    if observed.config_errors and not spec.suspend:
        # The kubelet waits for ever on a missing Secret or ConfigMap: fail with what is missing.
        d.failed = _config_failure(spec, observed.config_errors[0])
        d.deletes = _unfinished(observed)
        return d
    if spec.suspend:
        d.suspended = True
        d.deletes = _unfinished(observed)
    name = owner.name
    args = (owner, spec, config)
    target = spec.target.records
    prior = RecordCounts()  # cumulative counts after the last finished dedup
    round_ = 0
    while True:
        d.round = round_
        if spec.generator is not None:
            gen_name = ch.generate_job_name(name, round_)
            gen = observed.job(gen_name)
            if gen is None or gen.deleting:
                if gpu.spent(max_gpu_hours, gpu_hours) and not d.suspended:
                    d.failed = (reasons.BUDGET_EXHAUSTED,
                                f"accepted {prior.accepted} of {target} records when the generator pods had used "
                                f"{gpu_budget}: generator round {round_ + 1} is not started")
                    d.deletes = _unfinished(observed)
                    d.stage, d.counts = Phase.GENERATING, prior
                    return d
                records = round_records(spec, round_, prior.accepted, prior.generated, prior.accepted_replay)
                if gen is None and not d.suspended:
                    d.creates.append(ch.generate_job(*args, round_, records))
                d.stage, d.counts = Phase.GENERATING, prior
                d.shards[Stage.GENERATE] = ShardCounts(total=spec.generator.shards, active=0)
                d.waiting = f"creating generator round {round_}" if gen is None else f"waiting for {gen_name} to go"
                return d
            if gen.failed_reason is not None:
                d.failed = _failure(observed, gen, "generator Job")
                d.deletes = _unfinished(observed)
                return d
            shards = gen.completions
            produced = sorted(gen.completed_indexes)
            d.shards[Stage.GENERATE] = ShardCounts(
                total=shards, active=gen.active, succeeded=len(produced), failed=0
            )
        else:
            assert spec.input is not None
            gen, shards, produced = None, spec.input.shards, list(range(spec.input.shards))

        counts = prior.copy()
        if gen is not None:
            for k in range(shards):
                final = observed.final_progress(gen.name, k) if k in gen.completed_indexes else None
                p = final or live.get((Stage.GENERATE, round_, k))
                if p is not None:
                    counts.add_shard(p, curation=False)
        filt = ShardCounts(total=shards)
        filters_done = 0
        for k in produced:
            fname = ch.filter_job_name(name, round_, k)
            fjob = observed.job(fname)
            if fjob is None or fjob.deleting:
                if fjob is None and not d.suspended:
                    d.creates.append(ch.filter_job(*args, round_, k))
                continue
            if fjob.failed_reason is not None:
                d.failed = _failure(observed, fjob, "filter Job")
                d.deletes = _unfinished(observed)
                return d
            if fjob.complete:
                filters_done += 1
            else:
                filt.active += 1
            # A finished Job's pod (and its termination message) may not be observed yet: until then
            # its last live progress stands in, so the counts never drop back.
            final = observed.final_progress(fname) if fjob.complete else None
            p = final or live.get((Stage.FILTER, round_, k))
            if p is not None:
                counts.add_shard(p, curation=gen is None)
        filt.succeeded = filters_done
        d.shards[Stage.FILTER] = filt
        d.counts = counts
        d.generated_done = gen is None or gen.complete
        if not d.generated_done or filters_done < shards:
            d.stage = Phase.GENERATING if not d.generated_done else Phase.FILTERING
            return d

        d.shards[Stage.PUBLISH] = ShardCounts(total=1)
        dedup_job = partial(ch.dedup_job, *args, round_)
        summary = _single_job_result(d, observed, ch.dedup_job_name(name, round_), dedup_job, "dedup",
                                     "its counts", now)
        if summary is None:
            if d.failed is None:
                d.stage = Phase.FILTERING
            return d
        prior = RecordCounts.from_summary(summary)
        d.counts = prior
        if another_round(spec, round_, prior.accepted, prior.accepted_replay):
            round_ += 1
            continue
        break

    d.filtered_done = True
    if spec.forgetting() is not None and not _forgetting_checked(d, owner, spec, config, observed, round_, now, live):
        return d
    d.stage = Phase.PUBLISHING
    publish_job = partial(ch.publish_job, *args, round_ + 1, gpu_hours=gpu_hours)
    result = _single_job_result(d, observed, ch.publish_job_name(name), publish_job, "publish", "the dataset", now)
    if result is None:
        return d
    d.shards[Stage.PUBLISH].succeeded = 1
    d.published = result
    d.counts.replay = result.accepted_replay
    if prior.accepted < target:
        d.succeeded = (
            reasons.BUDGET_EXHAUSTED,
            f"published {prior.accepted} of {target} records: the budget of "
            f"{spec.budget.max_rounds} round(s) is spent",
        )
    else:
        d.succeeded = (reasons.PUBLISHED, f"published {result.accepted} records")
    if d.forgetting_guard is not None and not d.forgetting_guard[0]:
        reason, message = d.succeeded
        d.succeeded = (reason, f"{message}; warning: {d.forgetting_guard[2]}")
    if gpu.spent(max_gpu_hours, gpu_hours):
        d.warning = f"the generator pods used {gpu_budget} (the last round ran to its end)"
    return d


def _forgetting_checked(d: Decision, owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig,
                        observed: Observed, round_: int, now: datetime, live: Mapping[ShardKey, Progress]) -> bool:
    """The forgetting guard (spec.evaluation.forgetting) between the last dedup and publish: True once it
    has measured and publishing may go on; False while it runs, or when the mix went beyond a gate whose
    action is Fail (`d.failed` says so, and nothing is published)."""
    forgetting = spec.forgetting()
    assert forgetting is not None
    d.stage = Phase.EVALUATING
    d.shards[Stage.EVALUATE] = ShardCounts(total=1)
    name = ch.evaluate_job_name(owner.name)
    make = partial(ch.evaluate_job, owner, spec, config, round_)
    result = _single_job_result(d, observed, name, make, "evaluate", "the forgetting guard's result", now,
                                stage=Stage.EVALUATE)
    if result is None:
        running = live.get((Stage.EVALUATE, round_, 0))
        if d.failed is None and not d.waiting and running is not None and running.message:
            d.waiting = f"evaluating: {running.message}"
        return False
    d.shards[Stage.EVALUATE].succeeded = 1
    if result.forgetting is None:
        d.failed = (reasons.MISSING_RESULT, f"evaluate Job {name} finished without reporting the forgetting "
                                            "guard's result")
        return False
    d.forgetting = result.forgetting
    passed = result.forgetting.get("passed") is not False
    gate = forgetting.gate
    if passed:
        d.forgetting_guard = (True, reasons.WITHIN_LIMIT if gate else reasons.MEASURED, result.message)
        return True
    d.forgetting_guard = (False, reasons.FORGETTING_LIMIT_EXCEEDED, result.message)
    if gate is not None and gate.action == GateAction.FAIL:
        d.failed = (reasons.FORGETTING_LIMIT_EXCEEDED, f"{result.message}: nothing is published")
        return False
    return True


def refused(decision: Decision, observed: Observed, message: str) -> Decision:
    """`decision` when the API server refused a child it creates: nothing more is created, every
    unfinished child is deleted and the job fails (a spec it accepted produced a child it refuses, and
    no retry fixes that). The counts and stage of `decision` stand."""
    return replace(decision, failed=(reasons.FAILED_TO_CREATE_JOB, message), creates=[],
                   deletes=_unfinished(observed))

"""What exists in the cluster for one DataFoundryJob, parsed from raw objects (pure).

The reconciler never trusts memory that a restart loses: it recomputes everything from these
observations, which come from the informer's caches of child Jobs and their pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datafoundry.api.keys import LABEL_ROUND, LABEL_SHARD, LABEL_STAGE
from datafoundry.api.stages import Stage
from datafoundry.controller.gpu import gpu_usage
from datafoundry.pipeline.contract import Progress

COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def parse_indexes(text: str | None) -> frozenset[int]:
    """Kubernetes' compressed index list ("0-2,5") as a set."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


@dataclass(frozen=True)
class ChildJob:
    name: str
    stage: str
    round: int
    shard: int | None
    completions: int
    active: int
    #: Active pods that are Ready (running), as opposed to waiting for a node or an image.
    ready: int
    completed_indexes: frozenset[int]
    complete: bool
    failed_reason: str | None
    failed_message: str
    deleting: bool
    completion_time: str | None
    creation_time: str | None = None
    #: spec.suspend: a Job waiting for Kueue's admission, or stopped by Kueue (preempted, evicted).
    suspended: bool = False
    #: Pods of it have finished (an index completed, a pod failed): it ran before, so a suspended one was stopped.
    ran: bool = False

    @property
    def finished(self) -> bool:
        return self.complete or self.failed_reason is not None


def job_essentials(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Only the parts of a Job that `child_job` reads: `child_job(job_essentials(j)) == child_job(j)`.
    The operator keeps every child Job in memory, and a whole Job (pod template, managed fields) is
    tens of kilobytes as Python objects."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "labels", "deletionTimestamp", "creationTimestamp") if k in meta},
        "spec": {k: spec[k] for k in ("completions", "completionMode", "suspend") if k in spec},
        "status": obj.get("status") or {},
    }


def pod_essentials(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Only finished pods, pods that cannot start and generator pods that hold GPUs, and only what
    `pod_outcome`, `pod_config_error` and the GPU accounting (`gpu.gpu_usage`) read of them: a
    thousand jobs keep ten thousand of these in memory."""
    status = body.get("status") or {}
    phase = status.get("phase")
    meta = body.get("metadata") or {}
    usage = gpu_usage(body) if (meta.get("labels") or {}).get(LABEL_STAGE) == Stage.GENERATE else None
    if phase not in ("Succeeded", "Failed") and usage is None and pod_config_error(body) is None:
        return None
    annotations = meta.get("annotations") or {}
    states = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated:
            states.append({"state": {"terminated": {k: terminated[k] for k in ("message", "exitCode")
                                                    if k in terminated}}})
        elif waiting:
            states.append({"state": {"waiting": {k: waiting[k] for k in ("reason", "message") if k in waiting}}})
    slim: dict[str, Any] = {
        "metadata": {"name": meta.get("name"), "labels": dict(meta.get("labels") or {}),
                     "annotations": {k: v for k, v in annotations.items() if k == COMPLETION_INDEX_ANNOTATION}},
        "status": {"phase": phase, "containerStatuses": states}}
    if usage is not None:
        slim["metadata"]["uid"] = meta.get("uid")
        slim["gpu"] = usage
    return slim


def child_job(obj: Mapping[str, Any]) -> ChildJob:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    labels = meta.get("labels", {})
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    failed = conditions.get("Failed")
    completions = int(spec.get("completions") or 1)
    completed = parse_indexes(status.get("completedIndexes"))
    if spec.get("completionMode") != "Indexed" and status.get("succeeded"):
        completed = frozenset({0})
    shard = labels.get(LABEL_SHARD)
    return ChildJob(
        name=meta.get("name", ""),
        stage=labels.get(LABEL_STAGE, ""),
        round=int(labels.get(LABEL_ROUND, "0")),
        shard=int(shard) if shard is not None else None,
        completions=completions,
        active=int(status.get("active") or 0),
        ready=int(status.get("ready") or 0),
        completed_indexes=completed,
        complete="Complete" in conditions,
        failed_reason=failed.get("reason", "Failed") if failed else None,
        failed_message=failed.get("message", "") if failed else "",
        deleting=bool(meta.get("deletionTimestamp")),
        completion_time=status.get("completionTime"),
        creation_time=meta.get("creationTimestamp"),
        suspended=bool(spec.get("suspend")),
        ran=bool(completed) or int(status.get("failed") or 0) > 0,
    )


def child_job_states(jobs: Iterable[ChildJob]) -> dict[str, int]:
    """Unfinished child Jobs that run no pod: `suspended` ones, and `without_pods` ones, which are not
    suspended yet have no pod (none could be created: a missing ServiceAccount, a quota; or a retry's
    back-off), for the metrics and the pods-not-created alert."""
    out = {"suspended": 0, "without_pods": 0}
    for job in jobs:
        if job.finished or job.deleting:
            continue
        if job.suspended:
            out["suspended"] += 1
        elif job.active == 0:
            out["without_pods"] += 1
    return out


def one_job_stage_counts(jobs: Iterable[ChildJob], stage: str) -> dict[str, int]:
    """Active, succeeded and failed Jobs of a one-Job-per-round stage (dedup, publish), for the shards
    gauge: the status counts a running dedup as its publish shard, the metrics tell them apart."""
    out = {"active": 0, "succeeded": 0, "failed": 0}
    for job in jobs:
        if job.stage != stage or job.deleting:
            continue
        state = "succeeded" if job.complete else "failed" if job.failed_reason is not None else "active"
        out[state] += 1
    return out


def parse_time(value: str | None) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339, `Z` for UTC); None when absent."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StageSpan:
    """One stage of one round, all of whose child Jobs completed: from the first's creation to the
    last's completion."""

    stage: str
    round: int
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def finished_stages(jobs: Iterable[ChildJob]) -> list[StageSpan]:
    """The stages (per round) whose child Jobs all completed, with their wall time."""
    groups: dict[tuple[str, int], list[ChildJob]] = {}
    for job in jobs:
        if job.stage and not job.deleting:
            groups.setdefault((job.stage, job.round), []).append(job)
    spans = []
    for (stage, round_), members in sorted(groups.items()):
        if not all(j.complete for j in members):
            continue
        starts = [t for t in (parse_time(j.creation_time) for j in members) if t is not None]
        ends = [t for t in (parse_time(j.completion_time) for j in members) if t is not None]
        if len(starts) == len(ends) == len(members):
            spans.append(StageSpan(stage, round_, min(starts), max(ends)))
    return spans


@dataclass(frozen=True)
class PodOutcome:
    """A finished worker pod: its exit code and the final counts it left in its message."""

    job: str
    index: int
    phase: str
    exit_code: int | None
    message: str
    progress: Progress | None


def pod_outcome(obj: Mapping[str, Any]) -> PodOutcome | None:
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    phase = status.get("phase", "")
    if phase not in ("Succeeded", "Failed"):
        return None
    terminated: Mapping[str, Any] = {}
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated:
            break
    message = str(terminated.get("message") or "")
    progress: Progress | None = None
    try:
        progress = Progress.model_validate(json.loads(message)) if message.startswith("{") else None
    except ValueError:
        progress = None
    labels = meta.get("labels", {})
    index = (meta.get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION) or labels.get(LABEL_SHARD) or "0"
    return PodOutcome(
        job=labels.get(JOB_NAME_LABEL) or labels.get("job-name", ""),
        index=int(index),
        phase=phase,
        exit_code=terminated.get("exitCode"),
        message=message,
        progress=progress,
    )


#: Container waiting reasons that no retry fixes: the pod references a Secret, ConfigMap or key that
#: does not exist (in the job's own namespace), or the image name is invalid. The kubelet keeps
#: waiting; the job would stay Pending for ever.
CONFIG_ERRORS = frozenset({"CreateContainerConfigError", "InvalidImageName"})


@dataclass(frozen=True)
class PodConfigError:
    """A worker pod that cannot start because of its configuration (kubelet's waiting reason)."""

    job: str
    pod: str
    reason: str
    message: str


def pod_config_error(obj: Mapping[str, Any]) -> PodConfigError | None:
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CONFIG_ERRORS:
            labels = meta.get("labels", {})
            return PodConfigError(job=labels.get(JOB_NAME_LABEL) or labels.get("job-name", ""),
                                  pod=meta.get("name", ""), reason=waiting["reason"],
                                  message=str(waiting.get("message") or ""))
    return None


@dataclass(frozen=True)
class Observed:
    jobs: tuple[ChildJob, ...]
    pods: tuple[PodOutcome, ...]
    config_errors: tuple[PodConfigError, ...] = ()

    def job(self, name: str) -> ChildJob | None:
        return next((j for j in self.jobs if j.name == name), None)

    def final_progress(self, job: str, index: int = 0) -> Progress | None:
        """The counts of the successful pod for `index` of `job`, if one reported them."""
        for pod in self.pods:
            if pod.job == job and pod.index == index and pod.phase == "Succeeded" and pod.progress:
                return pod.progress
        return None

    def last_failure(self, job: str) -> PodOutcome | None:
        failed = [p for p in self.pods if p.job == job and p.phase == "Failed"]
        return failed[-1] if failed else None


def observe(jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]) -> Observed:
    pods = list(pods)
    outcomes = tuple(o for o in (pod_outcome(p) for p in pods) if o is not None)
    errors = tuple(e for e in (pod_config_error(p) for p in pods) if e is not None)
    return Observed(jobs=tuple(child_job(j) for j in jobs), pods=outcomes, config_errors=errors)

"""GPU-hours of a job's generator pods, from the pods' own timestamps (pure).

One pod's GPU time is its GPUs (the `nvidia.com/gpu` limit of its containers: `gpusPerShard`,
0 with `gpusPerShard: 0` or the `openai` engine, so those pods count nothing) times the time it
held them: from `status.startTime` (the kubelet admitted the pod and its GPUs were allocated from
then on, image pulls included) or, without it, the container's `startedAt`, to the container's
`terminated.finishedAt`; a pod that ended without one (its node was lost) ends at its last
condition change, and a running pod at the moment of the pass. Every pod counts: each retry of a
shard, each incarnation of a round's generator Job after a suspension.

The total survives operator restarts and the deletion of pods (the garbage collector, a suspended
or preempted Job, a lost node): the status keeps it (`progress.gpuHours`) and the part of it from
pods that no longer exist (`progress.gpuHoursOfDeletedPods`). Between passes the operator remembers
what each pod counted; a pod that is gone adds its last count to the deleted part. After a restart
the deleted part is at least what the status recorded, or the recorded total less what the pods
that still exist count now, whichever is larger (pods deleted while the operator was down). The
total never decreases. What can be missed: a pod created and deleted between two passes (seconds),
and, when pods were deleted while the operator was down, the smaller of their time and the time
running pods gained meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datafoundry.controller.children import GPU_RESOURCE


def _time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def pod_gpus(pod_spec: Mapping[str, Any]) -> int:
    """GPUs a pod holds: the sum over its containers of the `nvidia.com/gpu` limit (or request)."""
    total = 0
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        value = (resources.get("limits") or {}).get(GPU_RESOURCE, (resources.get("requests") or {}).get(GPU_RESOURCE))
        total += _quantity(value) if value is not None else 0
    return total


def gpu_usage(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The timestamps and GPUs of a pod that holds GPUs and has started, for the informer's slim copy:
    `{"gpus", "start", "end"}` (end None while it runs). None for a pod without GPUs or not started."""
    gpus = pod_gpus(obj.get("spec") or {})
    if gpus <= 0:
        return None
    status = obj.get("status") or {}
    start = status.get("startTime")
    end = None
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        running, terminated = state.get("running") or {}, state.get("terminated") or {}
        start = start or running.get("startedAt") or terminated.get("startedAt")
        end = end or terminated.get("finishedAt")
    if not start:
        return None
    if end is None and status.get("phase") in ("Succeeded", "Failed"):
        changes = [t for t in (_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []) if t]
        end = max(changes).isoformat() if changes else start
    return {"gpus": gpus, "start": start, "end": end}


def pod_gpu_seconds(usage: Mapping[str, Any], now: datetime) -> float:
    start, end = _time(usage.get("start")), _time(usage.get("end")) or now
    if start is None:
        return 0.0
    return max(0.0, (end - start).total_seconds()) * int(usage.get("gpus") or 0)


@dataclass
class GPUAccount:
    """One job's accounting between passes, in memory (rebuilt from the status after a restart)."""

    #: pod uid -> GPU-seconds it counted at the last pass.
    seen: dict[str, float] = field(default_factory=dict)
    #: GPU-seconds of pods that were counted and no longer exist.
    deleted: float = 0.0
    #: The total, GPU-seconds (never decreases).
    total: float = 0.0
    #: Pods counted that still run.
    running: int = 0

    @property
    def hours(self) -> float:
        return self.total / 3600

    @property
    def deleted_hours(self) -> float:
        return self.deleted / 3600


def generator_usage(pods: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """pod uid -> usage of the generator pods among the informer's slim pods."""
    out: dict[str, Mapping[str, Any]] = {}
    for pod in pods:
        usage = pod.get("gpu")
        meta = pod.get("metadata") or {}
        if usage and meta.get("uid"):
            out[str(meta["uid"])] = usage
    return out


def account(previous: GPUAccount | None, pods: Iterable[Mapping[str, Any]], progress: Mapping[str, Any],
            now: datetime) -> GPUAccount:
    """The account after this pass. `previous` is None on the operator's first pass of the job;
    `progress` is the job's `status.progress` as last written."""
    recorded_total = float(progress.get("gpuHours") or 0) * 3600
    recorded_deleted = float(progress.get("gpuHoursOfDeletedPods") or 0) * 3600
    usages = generator_usage(pods)
    seen = {uid: pod_gpu_seconds(usage, now) for uid, usage in usages.items()}
    running = sum(1 for usage in usages.values() if not usage.get("end"))
    if previous is None:
        deleted = max(recorded_deleted, recorded_total - sum(seen.values()))
    else:
        # A pod's count never goes back (its finishedAt may be earlier than a pass's clock was).
        seen = {uid: max(s, previous.seen.get(uid, 0.0)) for uid, s in seen.items()}
        gone = sum(s for uid, s in previous.seen.items() if uid not in seen)
        deleted = max(recorded_deleted, previous.deleted + gone)
    total = max(recorded_total, previous.total if previous else 0.0, deleted + sum(seen.values()))
    return GPUAccount(seen=seen, deleted=deleted, total=total, running=running)


def spent(max_gpu_hours: float | None, hours: float) -> bool:
    """Whether `spec.budget.maxGPUHours` is used up (never when unset)."""
    return max_gpu_hours is not None and hours >= max_gpu_hours


def hours_text(hours: float) -> str:
    """GPU-hours for messages: 4 significant digits."""
    return f"{hours:.4g}"

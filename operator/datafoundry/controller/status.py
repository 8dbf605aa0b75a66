"""From a reconcile decision to the `status` of the DataFoundryJob (pure).

Conditions are written in full every time (kopf patches with JSON merge, which replaces lists);
`phase` is derived from them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from datafoundry.api.status import DecontaminationStatus, QualityStatus
from datafoundry.controller import conditions as cond
from datafoundry.controller import reasons
from datafoundry.controller.reconcile import Decision

#: The keys of status.output.decontamination (the schema prunes any other).
_DECONTAMINATION_KEYS = tuple(f.alias or name for name, f in DecontaminationStatus.model_fields.items())
_QUALITY_KEYS = tuple(f.alias or name for name, f in QualityStatus.model_fields.items())


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _eta_seconds(accepted: int, target: int, start: datetime | None, now: datetime) -> int | None:
    if not start or accepted <= 0 or accepted >= target:
        return None
    elapsed = (now - start).total_seconds()
    return max(0, math.ceil(elapsed / accepted * (target - accepted)))


def invalid_status(old: dict[str, Any], generation: int, reason: str, message: str) -> dict[str, Any]:
    """Status of a job whose spec the operator refuses: Failed, with the field paths in the message."""
    now = cond.now_rfc3339()
    conditions = old.get("conditions") or []
    conditions = cond.set_condition(conditions, cond.ACCEPTED, "False", reason, message, generation, now)
    conditions = cond.set_condition(conditions, cond.FAILED, "True", reason, message, generation, now)
    conditions = cond.set_condition(conditions, cond.PROGRESSING, "False", reason, message, generation, now)
    return {
        "phase": cond.phase_of(conditions, ""),
        "observedGeneration": generation,
        "conditions": conditions,
        "completionTime": old.get("completionTime") or now,
    }


def build_status(
    old: dict[str, Any],
    decision: Decision,
    *,
    generation: int,
    target: int,
    output_uri: str,
    plan_hash: str,
    plan_config_map: str,
    now: datetime | None = None,
    gpu_hours_of_deleted_pods: float = 0.0,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    stamp = rfc3339(now)
    g = generation
    c: list[dict[str, Any]] = list(old.get("conditions") or [])
    c = cond.set_condition(c, cond.ACCEPTED, "True", reasons.ACCEPTED, "spec is valid; plan written", g, stamp)
    start = parse_time(old.get("startTime")) or now
    d = decision
    done = d.succeeded is not None or d.failed is not None
    if d.failed is not None:
        reason, message = d.failed
        c = cond.set_condition(c, cond.FAILED, "True", reason, message, g, stamp)
        c = cond.set_condition(c, cond.PROGRESSING, "False", reason, message, g, stamp)
    elif d.succeeded is not None:
        reason, message = d.succeeded
        if d.warning:
            message = f"{message}; warning: {d.warning}"
        c = cond.set_condition(c, cond.PUBLISHED, "True", reasons.PUBLISHED, message, g, stamp)
        c = cond.set_condition(c, cond.SUCCEEDED, "True", reason, message, g, stamp)
        c = cond.set_condition(c, cond.PROGRESSING, "False", reason, message, g, stamp)
    else:
        msg = d.waiting or f"{d.stage.lower()} (round {d.round + 1})"
        c = cond.set_condition(c, cond.PROGRESSING, "True", reasons.STAGE_RUNNING, msg, g, stamp)
    if d.generated_done:
        c = cond.set_condition(c, cond.GENERATED, "True", reasons.ALL_SHARDS_DONE,
                               f"round {d.round + 1} generated", g, stamp)
    if d.filtered_done:
        c = cond.set_condition(c, cond.FILTERED, "True", reasons.ALL_SHARDS_DONE, "filtered and deduplicated", g, stamp)
    if d.suspended and not done:
        c = cond.set_condition(c, cond.SUSPENDED, "True", reasons.SUSPENDED, "spec.suspend is true", g, stamp)
    elif cond.find(c, cond.SUSPENDED) is not None:
        c = cond.set_condition(c, cond.SUSPENDED, "False", reasons.RESUMED, "spec.suspend is false", g, stamp)

    counts = d.counts
    percent = 100 if d.succeeded else min(100, int(100 * counts.accepted / target)) if target else 0
    progress: dict[str, Any] = {
        "target": target,
        "generated": counts.generated,
        "accepted": counts.accepted,
        "rejected": dict(sorted(counts.rejected.items())),
        "replay": counts.replay,
        "percent": percent,
        "display": f"{percent}%",
        "promptTokens": counts.prompt_tokens,
        "completionTokens": counts.completion_tokens,
        "gpuHours": round(d.gpu_hours, 6),
        "gpuHoursOfDeletedPods": round(gpu_hours_of_deleted_pods, 6),
        "round": d.round + 1,
        "lastUpdateTime": stamp,
    }
    eta = _eta_seconds(counts.accepted, target, start, now) if not done else None
    if eta is not None:
        progress["etaSeconds"] = eta
    status: dict[str, Any] = {
        "phase": cond.phase_of(c, d.stage),
        "observedGeneration": g,
        "conditions": c,
        "progress": progress,
        "shards": {stage: sc.to_dict() for stage, sc in d.shards.items()},
        "startTime": rfc3339(start),
        "planHash": plan_hash,
        "planConfigMap": plan_config_map,
        "output": {"uri": output_uri},
    }
    if d.published is not None:
        pub = d.published
        status["output"] = {
            "uri": output_uri,
            "records": pub.accepted,
            "bytes": pub.bytes_written,
            "manifestUri": pub.manifest_uri,
            "sha256": pub.sha256,
        }
        if pub.decontamination is not None:
            status["output"]["decontamination"] = {k: int(pub.decontamination.get(k, 0))
                                                   for k in _DECONTAMINATION_KEYS}
        if pub.quality:
            status["output"]["quality"] = {k: pub.quality[k] for k in _QUALITY_KEYS if pub.quality.get(k) is not None}
    if done:
        status["completionTime"] = old.get("completionTime") or stamp
    return status

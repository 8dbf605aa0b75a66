"""From a reconcile decision to the `status` of the DataFoundryJob (pure).

The status is built as the API's `DataFoundryJobStatus` model, so it validates against the schema
the CRD publishes and nothing the operator writes is pruned; it is written as that model's dump
(camelCase, without unset optional fields). Conditions are written in full every time (kopf
patches with JSON merge, which replaces lists); `phase` is derived from them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from datafoundry.api.stages import Stage
from datafoundry.api.status import (
    Condition,
    DataFoundryJobStatus,
    DecontaminationStatus,
    EvaluationStatus,
    ForgettingStatus,
    OutputStatus,
    Phase,
    ProgressStatus,
    QualityStatus,
    Shards,
)
from datafoundry.controller import conditions as cond
from datafoundry.controller import reasons
from datafoundry.controller.observe import parse_time
from datafoundry.controller.reconcile import Decision

#: The keys of status.output.decontamination (the schema prunes any other).
_DECONTAMINATION_KEYS = tuple(f.alias or name for name, f in DecontaminationStatus.model_fields.items())
_QUALITY_KEYS = tuple(f.alias or name for name, f in QualityStatus.model_fields.items())
_FORGETTING_KEYS = tuple(f.alias or name for name, f in ForgettingStatus.model_fields.items())


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")



def _eta_seconds(accepted: int, target: int, start: datetime | None, now: datetime) -> int | None:
    if not start or accepted <= 0 or accepted >= target:
        return None
    elapsed = (now - start).total_seconds()
    return max(0, math.ceil(elapsed / accepted * (target - accepted)))


def dump(status: DataFoundryJobStatus, *, exclude: Any = None) -> dict[str, Any]:
    """The status as the API server stores it (camelCase, RFC 3339 times, no None fields)."""
    return status.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=exclude)


def invalid_status(old: dict[str, Any], generation: int, reason: str, message: str) -> dict[str, Any]:
    """Status of a job whose spec the operator refuses: Failed, with the field paths in the message."""
    now = cond.now_rfc3339()
    conditions = old.get("conditions") or []
    conditions = cond.set_condition(conditions, cond.ACCEPTED, "False", reason, message, generation, now)
    conditions = cond.set_condition(conditions, cond.FAILED, "True", reason, message, generation, now)
    conditions = cond.set_condition(conditions, cond.PROGRESSING, "False", reason, message, generation, now)
    return dump(DataFoundryJobStatus(
        phase=cond.phase_of(conditions, Phase.PENDING),
        observed_generation=generation,
        conditions=[Condition.model_validate(c) for c in conditions],
        completion_time=parse_time(old.get("completionTime") or now),
    ))


def _progressing(old: list[dict[str, Any]], d: Decision) -> tuple[str, str]:
    """Progressing's reason and message for an unfinished job: the stage, or Kueue's hold on the children.
    A preempted job whose child is only waiting again stays Preempted until Kueue admits it (the operator
    may have restarted in between and no longer know the child had started)."""
    msg = d.waiting or f"{d.stage.lower()} (round {d.round + 1})"
    if d.admission is None:
        return reasons.STAGE_RUNNING, msg
    reason, note = d.admission
    if reason == reasons.STAGE_RUNNING:
        return reason, f"{msg}; {note}"
    before = cond.find(old, cond.PROGRESSING)
    if reason == reasons.WAITING_FOR_ADMISSION and before is not None and before.get("reason") == reasons.PREEMPTED:
        return reasons.PREEMPTED, str(before.get("message", note))
    return reason, note


def _conditions(old: dict[str, Any], d: Decision, g: int, stamp: str) -> list[dict[str, Any]]:
    done = d.succeeded is not None or d.failed is not None
    c: list[dict[str, Any]] = list(old.get("conditions") or [])
    c = cond.set_condition(c, cond.ACCEPTED, "True", reasons.ACCEPTED, "spec is valid; plan written", g, stamp)
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
        reason, msg = _progressing(c, d)
        c = cond.set_condition(c, cond.PROGRESSING, "True", reason, msg, g, stamp)
    if d.generated_done:
        c = cond.set_condition(c, cond.GENERATED, "True", reasons.ALL_SHARDS_DONE,
                               f"round {d.round + 1} generated", g, stamp)
    if d.filtered_done:
        c = cond.set_condition(c, cond.FILTERED, "True", reasons.ALL_SHARDS_DONE, "filtered and deduplicated", g, stamp)
    if d.forgetting_guard is not None:
        passed, reason, message = d.forgetting_guard
        c = cond.set_condition(c, cond.FORGETTING_GUARD, "True" if passed else "False", reason, message, g, stamp)
    if d.suspended and not done:
        c = cond.set_condition(c, cond.SUSPENDED, "True", reasons.SUSPENDED, "spec.suspend is true", g, stamp)
    elif cond.find(c, cond.SUSPENDED) is not None:
        c = cond.set_condition(c, cond.SUSPENDED, "False", reasons.RESUMED, "spec.suspend is false", g, stamp)
    return c


def _output(d: Decision, output_uri: str) -> OutputStatus:
    pub = d.published
    if pub is None:
        return OutputStatus(uri=output_uri)
    out = OutputStatus(uri=output_uri, records=pub.accepted, bytes=pub.bytes_written,
                       manifest_uri=pub.manifest_uri, sha256=pub.sha256)
    if pub.decontamination is not None:
        out.decontamination = DecontaminationStatus.model_validate(
            {k: int(pub.decontamination.get(k, 0)) for k in _DECONTAMINATION_KEYS})
    if pub.quality:
        out.quality = QualityStatus.model_validate(
            {k: pub.quality[k] for k in _QUALITY_KEYS if pub.quality.get(k) is not None})
    return out


def _evaluation(d: Decision, old: dict[str, Any]) -> EvaluationStatus | None:
    """The forgetting guard's headline: this pass's, else the one already written (a finished evaluate
    Job's pod can be gone by the time the job publishes)."""
    if d.forgetting is not None:
        return EvaluationStatus(forgetting=ForgettingStatus.model_validate(
            {k: v for k, v in d.forgetting.items() if k in _FORGETTING_KEYS}))
    before = old.get("evaluation")
    return EvaluationStatus.model_validate(before) if before else None


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
    """The status for `decision`, dumped; `old` is the status it replaces (its conditions and times carry
    over). A stage the decision keeps no shard counters for is left out."""
    now = now or datetime.now(UTC)
    stamp = rfc3339(now)
    d = decision
    done = d.succeeded is not None or d.failed is not None
    c = _conditions(old, d, generation, stamp)
    start = parse_time(old.get("startTime")) or now
    counts = d.counts
    percent = 100 if d.succeeded else min(100, int(100 * counts.accepted / target)) if target else 0
    progress = ProgressStatus(
        target=target,
        generated=counts.generated,
        accepted=counts.accepted,
        rejected=dict(sorted(counts.rejected.items())),
        replay=counts.replay,
        percent=percent,
        eta_seconds=_eta_seconds(counts.accepted, target, start, now) if not done else None,
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens,
        gpu_hours=round(d.gpu_hours, 6),
        gpu_hours_of_deleted_pods=round(gpu_hours_of_deleted_pods, 6),
        round=d.round + 1,
        last_update_time=parse_time(stamp),
    )
    status = DataFoundryJobStatus(
        phase=cond.phase_of(c, d.stage),
        observed_generation=generation,
        conditions=[Condition.model_validate(x) for x in c],
        progress=progress,
        shards=Shards.model_validate({stage.value: counts_ for stage, counts_ in d.shards.items()}),
        start_time=parse_time(rfc3339(start)),
        completion_time=parse_time(old.get("completionTime") or stamp) if done else None,
        output=_output(d, output_uri),
        evaluation=_evaluation(d, old),
        plan_hash=plan_hash,
        plan_config_map=plan_config_map,
    )
    unset = [stage.value for stage in Stage if stage not in decision.shards]
    return dump(status, exclude={"shards": set(unset)} if unset else None)

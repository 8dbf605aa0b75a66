"""The Events a status change is worth (pure): one per phase change and one per condition change.

A condition changes when it appears or its status or reason moves; a new message alone (progress
counts, a waiting note) is not news. Failures and a forgetting guard beyond its limit are Warnings,
everything else Normal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from datafoundry.api.status import Phase
from datafoundry.controller import conditions as cond


@dataclass(frozen=True)
class StatusEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def _phase_event(new: Mapping[str, Any]) -> StatusEvent:
    phase = str(new.get("phase"))
    if phase == Phase.FAILED:
        failed = cond.find(new.get("conditions") or [], cond.FAILED)
        return StatusEvent("Warning", phase, failed["message"] if failed else f"phase {phase}")
    return StatusEvent("Normal", phase, f"phase {phase}")


def _condition_event(condition: Mapping[str, Any]) -> StatusEvent:
    type_, status = condition.get("type"), condition.get("status")
    # A failure, or a mix beyond the forgetting guard's limit published with gate.action Warn.
    warning = (type_ == cond.FAILED and status == "True") or (type_ == cond.FORGETTING_GUARD and status == "False")
    return StatusEvent("Warning" if warning else "Normal", str(condition.get("reason")),
                       f"{type_}={status}: {condition.get('message', '')}")


def status_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[StatusEvent]:
    """The phase event first (when the phase changed), then one per changed condition in `new`'s order."""
    events = [_phase_event(new)] if old.get("phase") != new.get("phase") else []
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in old.get("conditions") or []}
    for condition in new.get("conditions") or []:
        if before.get(condition.get("type")) != (condition.get("status"), condition.get("reason")):
            events.append(_condition_event(condition))
    return events

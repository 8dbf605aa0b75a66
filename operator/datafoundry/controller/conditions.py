"""metav1.Condition lists, as plain dicts (the wire shape kopf patches).

Conditions are the truth and `phase` is derived from them. kopf writes status as a JSON merge
patch, which replaces lists whole, so callers always write back the full list returned here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

# The condition types are part of the API; re-exported here for the controller's convenience.
from datafoundry.api.status import ACCEPTED as ACCEPTED
from datafoundry.api.status import FAILED as FAILED
from datafoundry.api.status import FILTERED as FILTERED
from datafoundry.api.status import FORGETTING_GUARD as FORGETTING_GUARD
from datafoundry.api.status import GENERATED as GENERATED
from datafoundry.api.status import PROGRESSING as PROGRESSING
from datafoundry.api.status import PUBLISHED as PUBLISHED
from datafoundry.api.status import SUCCEEDED as SUCCEEDED
from datafoundry.api.status import SUSPENDED as SUSPENDED
from datafoundry.api.status import Phase

Condition = dict[str, Any]
Status = Literal["True", "False", "Unknown"]


ORDER = (ACCEPTED, PROGRESSING, GENERATED, FILTERED, FORGETTING_GUARD, PUBLISHED, SUSPENDED, SUCCEEDED, FAILED)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.get("status") == "True"


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    now: str | None = None,
) -> list[Condition]:
    """Return a new list with `type_` set; lastTransitionTime moves only when status changes."""
    old = find(conditions, type_)
    changed = old is None or old.get("status") != status
    new: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "observedGeneration": observed_generation,
        "lastTransitionTime": (now or now_rfc3339()) if changed or old is None else old["lastTransitionTime"],
    }
    rest = [c for c in conditions if c.get("type") != type_]
    merged = [*rest, new]
    rank = {t: i for i, t in enumerate(ORDER)}
    return sorted(merged, key=lambda c: rank.get(c["type"], len(ORDER)))


def phase_of(conditions: Sequence[Condition], stage: Phase) -> Phase:
    """The one-word summary `kubectl get dfj` shows, derived from the conditions.

    `stage` is the stage the reconciler is in while Progressing (Generating, Filtering,
    Publishing); it only matters when no terminal or paused condition holds.
    """
    if is_true(conditions, FAILED):
        return Phase.FAILED
    if is_true(conditions, SUCCEEDED):
        return Phase.SUCCEEDED
    if is_true(conditions, SUSPENDED):
        return Phase.SUSPENDED
    if is_true(conditions, PROGRESSING):
        return stage
    return Phase.PENDING

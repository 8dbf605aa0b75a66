"""Two adjustments to kopf that a thousand jobs (tens of thousands of child Jobs and pods) need.

Both were found by profiling the operator under hack/bench/scale.py; see that file for the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf
from kopf._cogs.aiokits import aiotoggles

from datafoundry.api.meta import API_VERSION


class OwnDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf builds the "essence" of every watched object on every event, a deep copy of the whole
    object, whether or not a handler compares essences. Only the DataFoundryJob has such handlers
    (the deletion handler); for child Jobs and pods, which only feed indexes and wake-ups, the copy
    was a fifth of the operator's CPU time. Those get an empty essence."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        if body.get("apiVersion") != API_VERSION:
            return cast(kopf.BodyEssence, {})
        return super().build(body=body, extra_fields=extra_fields)


_PATCHED = "_datafoundry_notifies_on_change_only"


def quiet_index_readiness() -> None:
    """Make kopf's `ToggleSet` wake its waiters only when its overall state changes. Idempotent.

    While a (re)started operator lists what exists, kopf gives every listed object a "not yet
    indexed" toggle in one set, drops it once the object is indexed, and makes every object's worker
    wait until the whole set is on. Each make and drop woke every waiting worker, to find the set
    still off: N objects cost N x N wake-ups, and a restarted operator took minutes to reconcile
    anything next to a few thousand finished pods. Waiters only ever wait for the set's state, so a
    change that leaves the state as it was needs to wake nobody.
    """
    cls: Any = aiotoggles.ToggleSet
    if getattr(cls.make_toggle, _PATCHED, False):
        return

    async def make_toggle(self: Any, __val: bool = False, *, name: str | None = None) -> aiotoggles.Toggle:
        toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
        async with self._condition:
            before = self.is_on()
            self._toggles.add(toggle)
            if self.is_on() != before:
                self._condition.notify_all()
        return toggle

    async def drop_toggle(self: Any, toggle: aiotoggles.Toggle) -> None:
        await drop_toggles(self, [toggle])

    async def drop_toggles(self: Any, toggles: Iterable[aiotoggles.Toggle]) -> None:
        async with self._condition:
            before = self.is_on()
            self._toggles.difference_update(toggles)
            if self.is_on() != before:
                self._condition.notify_all()

    for fn in (make_toggle, drop_toggle, drop_toggles):
        setattr(fn, _PATCHED, True)
        setattr(cls, fn.__name__, fn)

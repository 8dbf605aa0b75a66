"""The operator's memory of each DataFoundryJob it supervises, by uid.

Nothing here is the truth: a restarted operator rebuilds all of it from the cluster. A job's entry is
opened by its daemon and forgotten by its deletion's cleanup; a wake for a uid without an entry (a
child's late event after the cleanup) does nothing, so it never brings a deleted job's entry back.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller.gpu import GPUAccount


@dataclass
class JobState:
    """What the operator remembers of one job between its passes."""

    #: Set when something the job's next pass would read has changed.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The phase last counted in the jobs-per-phase gauge.
    phase: str | None = None
    #: The recipe hash of the plan ConfigMap known to exist (after a budget raise not the current spec's).
    plan_recipe: str | None = None
    #: The validated spec and its generation: a spec only changes with its generation.
    spec: tuple[int, DataFoundryJobSpec] | None = None
    #: GPU-hours of the generator pods seen at the last pass (`controller.gpu`).
    gpu: GPUAccount | None = None
    #: Child Jobs seen admitted (not suspended): suspended again, Kueue stopped them (`reconcile.admission`).
    started: set[str] = field(default_factory=set)
    #: (stage, round) whose duration was observed (`metrics.stage_duration_seconds`).
    stages_timed: set[tuple[str, int]] = field(default_factory=set)

    def spec_of(self, generation: int) -> DataFoundryJobSpec | None:
        """The validated spec when it was validated at `generation`."""
        return self.spec[1] if self.spec is not None and self.spec[0] == generation else None


class JobRegistry:
    """The entries of the supervised jobs; only `open` creates one."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobState] = {}

    def open(self, uid: str) -> JobState:
        """The entry of `uid`, made when there is none (a daemon starting, or restarting)."""
        return self._jobs.setdefault(uid, JobState())

    def get(self, uid: str | None) -> JobState | None:
        return self._jobs.get(uid) if uid else None

    def wake(self, uid: str | None) -> None:
        """Wake the daemon of `uid`, if the job is supervised. Must run on the event loop
        (asyncio.Event is not thread-safe)."""
        state = self.get(uid)
        if state is not None:
            state.wake.set()

    def wake_all(self, uids: set[str]) -> None:
        for uid in uids:
            self.wake(uid)

    def forget(self, uid: str) -> None:
        self._jobs.pop(uid, None)

    def phases(self) -> Counter[str]:
        """How many supervised jobs are in each phase."""
        return Counter(s.phase for s in self._jobs.values() if s.phase is not None)

    def __contains__(self, uid: str) -> bool:
        return uid in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)

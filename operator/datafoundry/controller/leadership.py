"""The leader gauge: 1 while this replica reconciles, 0 while it stands by.

Without peering the operator is alone and always active. With peering, kopf starts every replica
paused and decides from the peering object which one works; it offers no API for that state, only its
log lines ("Pausing operations in favour of ..." / "Resuming operations after the pause"), which the
fault tests already rely on. A log handler on kopf's peering logger follows them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

PEERING_LOGGER = "kopf._core.engines.peering"
PAUSED = ("Pausing operations", "Pausing all operators")
RESUMED = "Resuming operations"


def leadership_of(message: str) -> bool | None:
    """True when kopf's peering line means this replica now works, False when it pauses, else None."""
    if message.startswith(RESUMED):
        return True
    if message.startswith(PAUSED):
        return False
    return None


class LeadershipHandler(logging.Handler):
    """Calls `on_change` with the new state at each pause or resume kopf logs."""

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        super().__init__(level=logging.DEBUG)
        self._on_change = on_change

    def emit(self, record: logging.LogRecord) -> None:
        state = leadership_of(record.getMessage())
        if state is not None:
            self._on_change(state)


def follow(peering: bool, set_leader: Callable[[bool], None]) -> None:
    """Set the gauge for a standalone (active) or peered (standby until kopf resumes it) replica."""
    set_leader(not peering)
    if peering:
        logger = logging.getLogger(PEERING_LOGGER)
        # kopf logs the pause at INFO and the same-priority pause at WARNING: let both through.
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(LeadershipHandler(set_leader))

"""Polling until the system under test reaches a state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T], timeout: float = 90, interval: float = 0.5,
             details: Callable[[], str] | None = None) -> T:
    """The first truthy value `probe` returns, polling every `interval` seconds.

    After `timeout` seconds an AssertionError names `what`, the last value and `details()` (say, a
    log tail). An exception from `probe` propagates at once: a probe raises for a state that waiting
    cannot fix.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    more = f"\n{details()}" if details else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}{more}")

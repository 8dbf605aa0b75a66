"""Where a run's wall time goes, by part, for the benchmarks (hack/bench/generator.py).

`PartTimer` wraps the functions of interest (the engine's calls, the screens, the store's writes)
and keeps each part's self-time: a timed call's time less that of the timed calls it makes, so the
parts add up to the outermost call's wall time. Single-threaded: the worker's vLLM path is.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any


class PartTimer:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        #: Self-time per part, seconds.
        self.seconds: dict[str, float] = {}
        #: Calls per part.
        self.calls: dict[str, int] = {}
        self._children: list[float] = []  # per open part: the time of the timed calls inside it

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        start = self.clock()
        self._children.append(0.0)
        try:
            yield
        finally:
            elapsed = self.clock() - start
            children = self._children.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - children
            self.calls[name] = self.calls.get(name, 0) + 1
            if self._children:
                self._children[-1] += elapsed

    def wrap(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(name):
                return fn(*args, **kwargs)

        return timed

    @contextlib.contextmanager
    def patched(self, targets: Collection[tuple[Any, str, str]]) -> Iterator[None]:
        """Time `getattr(obj, attr)` as part `name` for each (obj, attr, name) while inside; restored after.
        A class's plain method is wrapped on the class (every instance), an instance's on the instance."""
        saved = []
        try:
            for obj, attr, name in targets:
                saved.append((obj, attr, attr in vars(obj), vars(obj).get(attr)))
                setattr(obj, attr, self.wrap(getattr(obj, attr), name))
            yield
        finally:
            for obj, attr, had, value in reversed(saved):
                if had:
                    setattr(obj, attr, value)
                else:
                    delattr(obj, attr)


def time_shares(wall_s: float, by_part: Mapping[str, float], inside: Collection[str]) -> dict[str, Any]:
    """Split `wall_s` into the time in the `inside` parts and the rest: the rest's seconds and share of the
    wall time, and its seconds per part (what no part covers is `untimed`)."""
    inside_s = sum(s for p, s in by_part.items() if p in inside)
    outside = {p: s for p, s in sorted(by_part.items(), key=lambda kv: -kv[1]) if p not in inside}
    untimed = wall_s - sum(by_part.values())
    if abs(untimed) > 1e-9:
        outside["untimed"] = untimed
    outside_s = wall_s - inside_s
    return {"inside_s": inside_s, "outside_generate_s": outside_s,
            "outside_generate_share": outside_s / wall_s if wall_s > 0 else 0.0,
            "outside_generate_s_by_part": outside}

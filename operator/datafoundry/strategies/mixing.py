"""Deterministic weighted interleaving: which item (strategy, topic) serves position i.

One period of length sum(weights) holds each item exactly `weight` times, spread evenly
(stride scheduling: item j sits at (m + 0.5) / w_j for m < w_j, sorted). Position i maps to
period slot i mod W, so any window of W consecutive positions has exact proportions, and the
item's ordinal (how many times it was picked before i) is O(1).
"""

from __future__ import annotations

from collections.abc import Sequence


class Schedule:
    def __init__(self, weights: Sequence[int]) -> None:
        if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
            raise ValueError("weights must be non-negative with a positive sum")
        self.weights = list(weights)
        keyed = sorted(((m + 0.5) / w, j) for j, w in enumerate(weights) for m in range(w))
        self.period = [j for _, j in keyed]
        counts = [0] * len(weights)
        self._within: list[int] = []
        for j in self.period:
            self._within.append(counts[j])
            counts[j] += 1

    def pick(self, position: int) -> tuple[int, int]:
        """(item index, ordinal of this pick among the item's picks) for `position` >= 0."""
        cycle, p = divmod(position, len(self.period))
        item = self.period[p]
        return item, cycle * self.weights[item] + self._within[p]

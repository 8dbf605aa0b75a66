"""Preference pairs: a prompt with a chosen (better) and a rejected (worse) response, for DPO-style
training of the `preference` task type."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy

FLAWS = (
    "contains a subtle factual error",
    "ignores part of the request",
    "is vague and unhelpful",
    "is overly verbose and misses the point",
    "violates the requested format",
)

TEMPLATE = """Write a prompt a user of this domain might send, then two responses to it:
- "chosen": helpful, correct and complete;
- "rejected": plausible at first sight, but it {flaw}.{example}"""


class PreferencePairs(Strategy):
    name = "preferencePairs"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        flaw = FLAWS[slot.ordinal % len(FLAWS)]
        source: dict[str, Any] = {"flaw": flaw}
        example = self.seed_example(slot, source, "\nThe prompt may be inspired by, but not copy, this example: ", 1000)
        return TEMPLATE.format(flaw=flaw, example=example), source, {}

"""Self-Instruct: show a few seed examples, ask for a new one that differs from all of them."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, seed_text

TEMPLATE = """Here are examples of the records we need:

{examples}

Write one new record for the same domain. It must be different from every example: another \
topic, another angle, another level of difficulty. Do not copy any example."""


class SelfInstruct(Strategy):
    name = "selfInstruct"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        seeds = self.ctx.inputs.seeds
        k = max(1, min(int(self.options.get("examples", 3)), len(seeds)))
        picked = slot.rng.sample(seeds, k)
        examples = "\n".join(f"Example {i + 1}: {seed_text(s)}" for i, s in enumerate(picked))
        return TEMPLATE.format(examples=examples), {"seeds": [s.id for s in picked]}, {}

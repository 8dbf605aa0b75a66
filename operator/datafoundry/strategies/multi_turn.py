"""Multi-turn dialogue: a whole conversation between a user and an assistant in one record."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, seed_text

TEMPLATE = """Write a realistic conversation between a user and a helpful assistant{about}. \
Each user turn builds on the previous answer (follow-up questions, clarifications, corrections), \
and every assistant turn is accurate and helpful."""


class MultiTurn(Strategy):
    name = "multiTurn"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        source: dict[str, Any] = {}
        about = " about the domain"
        if self.ctx.inputs.seeds:
            seed = slot.rng.choice(self.ctx.inputs.seeds)
            about = f" that starts from this example: {seed_text(seed, 1000)}"
            source["seed"] = seed.id
        return TEMPLATE.format(about=about), source, {}

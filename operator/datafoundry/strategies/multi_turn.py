"""Multi-turn dialogue: a whole conversation between a user and an assistant in one record."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy

TEMPLATE = """Write a realistic conversation between a user and a helpful assistant{about}. \
Each user turn builds on the previous answer (follow-up questions, clarifications, corrections), \
and every assistant turn is accurate and helpful."""


class MultiTurn(Strategy):
    name = "multiTurn"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        source: dict[str, Any] = {}
        about = self.seed_example(slot, source, " that starts from this example: ", 1000) or " about the domain"
        return TEMPLATE.format(about=about), source, {}

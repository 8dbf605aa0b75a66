"""Evol-Instruct: rewrite a seed instruction into a harder one (deepening, concretising, adding
constraints), then answer the evolved instruction."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Seed, Slot, Strategy

PROMPT_FIELDS = ("instruction", "question", "prompt", "input", "text")

EVOLUTIONS: dict[str, str] = {
    "deepening": "Rewrite it so that it asks about the underlying principles in more depth and "
                 "requires more careful reasoning to answer.",
    "concretising": "Rewrite it so that it replaces general concepts with specific, concrete ones "
                    "(names, numbers, situations) from the domain.",
    "constraints": "Rewrite it by adding one or two explicit constraints or requirements the answer "
                   "must satisfy (format, length, cases to cover).",
}

TEMPLATE = """Here is an instruction:

{instruction}

{evolution} The rewritten instruction must stay answerable and self-contained; do not mention \
that it was rewritten. Then write the ideal answer to the rewritten instruction."""


def seed_prompt(seed: Seed) -> str:
    for key in PROMPT_FIELDS:
        value = seed.data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    import json

    return json.dumps(seed.data, ensure_ascii=False)[:2000]


class EvolInstruct(Strategy):
    name = "evolInstruct"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        allowed = [e for e in self.options.get("evolutions", list(EVOLUTIONS)) if e in EVOLUTIONS] or list(EVOLUTIONS)
        evolution = allowed[slot.ordinal % len(allowed)]
        seed = slot.rng.choice(self.ctx.inputs.seeds)
        text = TEMPLATE.format(instruction=seed_prompt(seed), evolution=EVOLUTIONS[evolution])
        return text, {"seed": seed.id, "evolution": evolution}, {}

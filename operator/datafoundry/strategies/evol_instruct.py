"""Evol-Instruct: rewrite a seed instruction into a harder one (deepening, concretising, adding
constraints); the evolved instruction is answered in a second call (ask, then answer)."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, question_list, seed_prompt

EVOLUTIONS: dict[str, str] = {
    "deepen": "Rewrite it so that it asks about the underlying principles in more depth and "
              "requires more careful reasoning to answer.",
    "concretize": "Rewrite it so that it replaces general concepts with specific, concrete ones "
                  "(names, numbers, situations) from the domain.",
    "addConstraints": "Rewrite it by adding one or two explicit constraints or requirements the answer "
                      "must satisfy (format, length, cases to cover).",
}

#: Ask-then-answer shapes: the evolution as a list of rewritten instructions the model continues.
EVOLVED_LISTS: dict[str, str] = {
    "deepen": "List harder versions of this question that ask why, or about the principles behind it:",
    "concretize": "List more specific versions of this question, with concrete names, numbers or situations:",
    "addConstraints": "List versions of this question that add a requirement the answer must meet (a format, "
                      "a limit or a case to cover):",
}

TEMPLATE = """Here is an instruction:

{instruction}

{evolution} The rewritten instruction must stay answerable and self-contained, must not contain \
its answer, and must not mention that it was rewritten."""


class EvolInstruct(Strategy):
    name = "evolInstruct"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        allowed = [e for e in self.options.get("operations", EVOLUTIONS) if e in EVOLUTIONS] or list(EVOLUTIONS)
        evolution = allowed[slot.ordinal % len(allowed)]
        seed = slot.rng.choice(self.ctx.inputs.seeds)
        text = TEMPLATE.format(instruction=seed_prompt(seed), evolution=EVOLUTIONS[evolution])
        return text, {"seed": seed.id, "evolution": evolution, "instruction": seed_prompt(seed)}, {}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        # A list of evolved versions to continue: a small model rewrites far better this way than when
        # told to rewrite (it answers, or writes about the instruction instead).
        instruction = source.pop("instruction")
        return question_list(f"{EVOLVED_LISTS[source['evolution']]}\n\n{instruction}", [])

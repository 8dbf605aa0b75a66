"""Self-Instruct: show a few seed examples, ask for a new one that differs from all of them."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, question_list, seed_prompt, seed_text

TEMPLATE = """Here are examples of the records we need:

{examples}

Write one new record for the same domain. It must be different from every example: another \
topic, another angle, another level of difficulty. Do not copy or reword any example."""

#: Ask-then-answer shapes: the model continues a list that starts with the seeds' questions.
ASK_LIST = "List different questions that users ask about: {domain}"
#: Seed instructions shown per prompt (options.examples).
DEFAULT_EXAMPLES = 3


class SelfInstruct(Strategy):
    name = "selfInstruct"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        seeds = self.ctx.inputs.seeds
        k = max(1, min(int(self.options.get("examples", DEFAULT_EXAMPLES)), len(seeds)))
        picked = slot.rng.sample(seeds, k)
        source = {"seeds": [s.id for s in picked]}
        if self.shape.ask is not None:
            source["questions"] = [seed_prompt(s) for s in picked]  # for ask(), which lists them
            return "", source, {}
        examples = "\n".join(f"Example {i + 1}: {seed_text(s)}" for i, s in enumerate(picked))
        return TEMPLATE.format(examples=examples), source, {}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        return question_list(ASK_LIST.format(domain=self.ctx.task.domain), source.pop("questions"))

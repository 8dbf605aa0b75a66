"""Persona-driven generation: the same domain seen by many different people."""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, question_list

DEFAULT_PERSONAS = (
    "a junior engineer in their first month on the job",
    "a senior specialist who wants precise, expert-level detail",
    "a manager who needs a short, decision-oriented answer",
    "a student preparing for an exam",
    "a non-native speaker who prefers simple words",
    "an auditor checking compliance and risks",
    "a customer who is frustrated and in a hurry",
    "a researcher comparing alternatives",
    "a teacher preparing material for a class",
    "an on-call operator handling an incident at night",
    "a product owner writing requirements",
    "a skeptic who asks for evidence and trade-offs",
)

TEMPLATE = """Write one record as it would arise for this person: {persona}.
The request should be something this person would really ask, in their own voice.{example}"""


class Persona(Strategy):
    name = "persona"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        personas = list(self.options.get("personas", DEFAULT_PERSONAS))
        persona = personas[(slot.ordinal + slot.rng.randrange(len(personas))) % len(personas)]
        source: dict[str, Any] = {"persona": persona}
        example = self.seed_example(slot, source, "\nFor the kind of record wanted (not its content), see: ")
        return TEMPLATE.format(persona=persona, example=example), source, {}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        return question_list(f"List questions that {source['persona']} asks about: {self.ctx.task.domain}", [])

"""Evol-Instruct (WizardLM, Xu et al. 2023): a seed instruction evolved over several generations,
each failed evolution eliminated, the survivor answered in a separate call.

A slot draws a seed instruction, then for each of `generations` (option, default 3, at most 8)
one operation among `operations` (option, default all), all from the slot's RNG:

- in depth: ``addConstraints`` (one more requirement the answer must meet), ``deepen`` (the why,
  the principles, the trade-offs), ``concretize`` (concrete names, numbers, situations),
  ``increaseReasoning`` (answerable only by reasoning in several explicit steps),
  ``complicateInput`` (concrete input data to work on, quoted inline: a manifest, a log excerpt,
  a table, code);
- in breadth: ``breadth`` (a brand-new instruction of the same domain, on a rarer, long-tail topic,
  of the same length and difficulty).

Each operation is a list the model continues ("List harder versions of this request ...:", then
"1."), one line: a small model rewrites far better so than when told to rewrite. After each
evolution, WizardLM's elimination rules, adapted; the first that applies names the drop:

- ``evol_empty``: no instruction in the reply.
- ``evol_copies_prompt``: the reply carries the evolving prompt's own words ("given prompt",
  "rewritten prompt", "#Rewritten Prompt#", "created prompt", or six words in a row of the list's
  intro): the model echoed the prompt instead of evolving the instruction.
- ``evol_refusal``: a refusal (`shapes.is_refusal`), or an apology ("I'm sorry", "sorry, ...") in
  fewer than 80 words. An instruction that merely mentions the word (an apology e-mail) is kept.
- ``evol_no_change``: no information gain: no content word (a word that is not an English stop word)
  the parent lacks, or a ROUGE-L F1 with the parent of 0.9 or more (`screens.rouge_l`).

An eliminated evolution is dropped and the next generation starts again from its parent (WizardLM
returns it to the pool). If no generation survives, the slot fails with the last reason. The
record's provenance (meta.source) is its path: ``{"seed": id, "evolutions": [{"operation",
"generation"}, ...], "eliminated": [{"operation", "generation", "reason"}, ...]}``.

Ask-then-answer shapes: the evolved instruction is answered in its own call, and the answer is
eliminated as ``empty_answer``, ``refusal`` (`is_refusal`, or "sorry" in fewer than 80 words: WizardLM's
rule) or ``answer_only_punctuation`` (nothing but punctuation and stop words). Other shapes
(`task.outputSchema`, classification): the last call writes the JSON record for the evolved
instruction, under the shape's schema.
"""

from __future__ import annotations

import re
from typing import Any

from datafoundry.engines.base import Completion, Message
from datafoundry.strategies.base import (
    ASK_MAX_TOKENS,
    Call,
    Flow,
    Outcome,
    Prompt,
    Slot,
    Strategy,
    StrategyContext,
    answer_system_message,
    ask_system_message,
    finish_of,
    parse_question,
    question_list,
    seed_prompt,
    system_message,
)
from datafoundry.strategies.screens import rouge_l, words
from datafoundry.strategies.shapes import Shape, clean, is_refusal

#: The list intro of each operation; the model continues "1." after it and the instruction.
OPERATIONS: dict[str, str] = {
    "addConstraints": "List harder versions of this request, each adding one more constraint or requirement the "
                      "answer must meet (a format, a limit, a case to cover):",
    "deepen": "List deeper versions of this request that ask why, about the principles behind it or about its "
              "trade-offs:",
    "concretize": "List more specific versions of this request that replace general ideas with concrete names, "
                  "numbers and situations:",
    "increaseReasoning": "List harder versions of this request that can only be answered by reasoning in several "
                         "explicit steps (first this, then that, finally the result):",
    "complicateInput": "List versions of this request that include concrete input to work on, quoted on the same "
                       "line: a short manifest, a log excerpt, a small table or a code snippet:",
    "breadth": "List brand-new requests from the same domain as this one, each about a rarer, long-tail topic, of "
               "the same length and difficulty:",
}
DEFAULT_GENERATIONS = 3

#: ROUGE-L F1 with the parent at or above which an evolution gained nothing.
NO_CHANGE_ROUGE = 0.9
#: WizardLM: a reply with "sorry" and fewer than 80 words is a refusal.
SORRY_MAX_WORDS = 80
#: How many words in a row of a list intro make an echo of the prompt.
INTRO_ECHO_WORDS = 6
PROMPT_WORDS = ("given prompt", "rewritten prompt", "#rewritten prompt#", "created prompt")

#: English function words: no information of their own (the quality filter's list is in another layer).
_STOP_WORDS = (
    "the be to of and that have with a an is are was were been being am it its this these those in on at by "
    "for from as or but not no nor if then than so can could will would shall should may might must do does "
    "did has had you your we our they their them he she his her him i me my there here what which who whom "
    "when where why how all any some each more most other such only also into about over after before "
    "between through under up out very just"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())
_APOLOGY = re.compile(r"\b(?:i'?m|i am|am|so|very|really)\s+sorry\b|\bsorry\s*,", re.IGNORECASE)
_INTRO_NGRAMS = {op: {tuple(w[i:i + INTRO_ECHO_WORDS]) for i in range(len(w) - INTRO_ECHO_WORDS + 1)}
                 for op, intro in OPERATIONS.items() for w in [words(intro)]}


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOP_WORDS}


def copies_prompt(text: str, operation: str) -> bool:
    folded = text.casefold()
    if any(p in folded for p in PROMPT_WORDS):
        return True
    w = words(text)
    return any(tuple(w[i:i + INTRO_ECHO_WORDS]) in _INTRO_NGRAMS[operation] for i in range(len(w)))


def elimination(evolved: str, parent: str, operation: str) -> str | None:
    """Why an evolution of `parent` by `operation` is eliminated, or None (it survives)."""
    if not evolved.strip():
        return "evol_empty"
    if copies_prompt(evolved, operation):
        return "evol_copies_prompt"
    if is_refusal(evolved) or (_APOLOGY.search(evolved) and len(words(evolved)) < SORRY_MAX_WORDS):
        return "evol_refusal"
    if not content_words(evolved) - content_words(parent) or rouge_l(words(evolved), words(parent)) >= NO_CHANGE_ROUGE:
        return "evol_no_change"
    return None


def answer_failure(answer: str) -> str | None:
    """Why an answer is eliminated, or None."""
    if not answer.strip():
        return "empty_answer"
    found = words(answer)
    if is_refusal(answer) or ("sorry" in found and len(found) < SORRY_MAX_WORDS):
        return "refusal"
    if all(w in STOP_WORDS for w in found):
        return "answer_only_punctuation"
    return None


RECORD_TEMPLATE = "Here is a request from this domain:\n\n{instruction}\n\nWrite the record for it."


class EvolInstruct(Strategy):
    name = "evolInstruct"

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        super().__init__(ctx, shape)
        # The typed spec bounds both (EvolOperation, 1..8 generations).
        self.operations: list[str] = list(self.options.get("operations") or OPERATIONS)
        self.generations: int = self.options.get("generations", DEFAULT_GENERATIONS)


    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        raise NotImplementedError("evolInstruct builds its calls in build() and flow()")

    def build(self, slot: Slot) -> Prompt:
        """The slot's first call: the seed it draws, evolved by the first operation it draws."""
        seed = slot.rng.choice(self.ctx.inputs.seeds)
        return self.evolution(slot, seed_prompt(seed), {"seed": seed.id})

    def evolution(self, slot: Slot, instruction: str, source: dict[str, Any]) -> Prompt:
        """One generation: an operation drawn from the slot's RNG, applied to `instruction` (kept in
        source["parent"], the operation in source["operation"])."""
        operation = slot.rng.choice(self.operations)
        intro, prefill = question_list(f"{OPERATIONS[operation]}\n\n{' '.join(instruction.split())}", [])
        messages: tuple[Message, ...] = (ask_system_message(self.ctx.task), {"role": "user", "content": intro},
                                         {"role": "assistant", "content": prefill})
        shape = self.shape.ask or self.shape
        return Prompt(strategy=self.name, messages=messages, schema=shape.schema, shape=shape,
                      source={**source, "operation": operation, "parent": instruction},
                      answer_field=self.shape.answer_field, max_tokens=min(ASK_MAX_TOKENS, self.ctx.max_tokens),
                      stop=("\n",))

    def flow(self, slot: Slot) -> Flow:
        prompt = self.build(slot)
        current = prompt.source["parent"]
        evolutions: list[dict[str, Any]] = []
        eliminated: list[dict[str, Any]] = []
        source = {"seed": prompt.source["seed"], "evolutions": evolutions, "eliminated": eliminated}
        made: Completion | None = None  # the call that wrote the current instruction
        for generation in range(1, self.generations + 1):
            if generation > 1:
                prompt = self.evolution(slot, current, {})
            operation = prompt.source["operation"]
            done = yield Call(prompt.messages, max_tokens=prompt.max_tokens, stop=prompt.stop)
            evolved = parse_question(clean(done.text))
            reason = elimination(evolved, current, operation)
            if reason is not None:
                eliminated.append({"operation": operation, "generation": generation, "reason": reason})
                continue
            evolutions.append({"operation": operation, "generation": generation})
            current, made = evolved, done
        if made is None:
            return Outcome.fail(eliminated[-1]["reason"], source)
        if self.shape.ask is None:
            return (yield from self.record(current, made, source))
        return (yield from self.answer(current, made, source))

    def answer(self, instruction: str, made: Completion, source: dict[str, Any]) -> Flow:
        assert self.shape.ask is not None and self.shape.answer_field is not None
        record, failure = self.shape.ask.to_record({next(iter(self.shape.ask.schema["properties"])): instruction})
        if record is None:
            return Outcome(None, failure or "invalid", made.finish_reason, source)
        answered = yield Call(self.answer_messages_for(instruction))
        text = clean(answered.text).strip()
        finish = finish_of(made, answered)
        failure = answer_failure(text)
        if failure is not None:
            return Outcome(None, failure, finish, source)
        return Outcome({**record, self.shape.answer_field: text}, None, finish, source)

    def answer_messages_for(self, instruction: str) -> tuple[Message, ...]:
        return (answer_system_message(self.ctx.task), {"role": "user", "content": instruction})

    def record(self, instruction: str, made: Completion, source: dict[str, Any]) -> Flow:
        prompt = Prompt(strategy=self.name, schema=self.shape.schema, shape=self.shape, source=source,
                        messages=(system_message(self.ctx.task, self.shape),
                                  {"role": "user", "content": RECORD_TEMPLATE.format(instruction=instruction)}))
        done = yield prompt.call()
        parsed = self.parse(prompt, done.text, done.finish_reason)
        return Outcome(parsed.record, parsed.failure, finish_of(made, done), source)

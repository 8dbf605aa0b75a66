"""The strategies of a job, mixed by weight: position -> (strategy, prompt, sampling seed).

Everything here is a pure function of the spec, the loaded inputs, the round and the position,
so a rerun of a shard rebuilds exactly the prompts and seeds of the first run.
"""

from __future__ import annotations

import hashlib
import math
import random
from fractions import Fraction
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, StrategyName, TaskType, effective_strategies
from datafoundry.pipeline.plan import replay_share
from datafoundry.strategies import shapes
from datafoundry.strategies.base import Flow, Inputs, Prompt, Slot, Strategy, StrategyContext
from datafoundry.strategies.document_qa import DocumentQA
from datafoundry.strategies.evol_instruct import EvolInstruct
from datafoundry.strategies.magpie import Magpie
from datafoundry.strategies.mixing import Schedule
from datafoundry.strategies.multi_turn import MultiTurn
from datafoundry.strategies.persona import Persona
from datafoundry.strategies.preference_pairs import PreferencePairs
from datafoundry.strategies.replay_self import SelfReplay
from datafoundry.strategies.self_instruct import SelfInstruct
from datafoundry.strategies.taxonomy import Taxonomy

STRATEGIES: dict[StrategyName, type[Strategy]] = {
    StrategyName.SELF_INSTRUCT: SelfInstruct,
    StrategyName.EVOL_INSTRUCT: EvolInstruct,
    StrategyName.PERSONA: Persona,
    StrategyName.DOCUMENT_QA: DocumentQA,
    StrategyName.MULTI_TURN: MultiTurn,
    StrategyName.PREFERENCE_PAIRS: PreferencePairs,
    StrategyName.TAXONOMY: Taxonomy,
    StrategyName.MAGPIE: Magpie,
}

#: The second call of a slot samples with its own seed, derived from the first's.
ANSWER_SEED_SALT = 0x5A5A5A5A
#: Rough characters per token, to keep every text field of a structured answer within max_tokens.
CHARS_PER_TOKEN = 3
JSON_OVERHEAD_TOKENS = 32
#: The least bound of a text field (options.maxChars has the same minimum).
MIN_CHARS = 16
#: User/assistant turns of a multiTurn dialogue (options.turns).
DEFAULT_TURNS = 3


def _max_chars(options: dict[str, Any], max_tokens: int, text_fields: int) -> int:
    if "maxChars" in options:
        return int(options["maxChars"])
    return max(MIN_CHARS, (max_tokens - JSON_OVERHEAD_TOKENS) * CHARS_PER_TOKEN // text_fields)


def shape_for(name: StrategyName, spec: DataFoundryJobSpec, options: dict[str, Any], max_tokens: int) -> shapes.Shape:
    """The record shape: task.outputSchema when set, else by strategy (dialogue, preference) and task type."""
    task = spec.task
    assert task is not None
    if task.output_schema is not None:
        return shapes.custom_shape(task.output_schema)
    if name == StrategyName.MULTI_TURN or task.type == TaskType.DIALOGUE:
        turns = int(options.get("turns", DEFAULT_TURNS))
        return shapes.dialogue_shape(_max_chars(options, max_tokens, 2 * turns), turns)
    if name == StrategyName.PREFERENCE_PAIRS or task.type == TaskType.PREFERENCE:
        return shapes.preference_shape()
    if task.type == TaskType.CLASSIFICATION:
        labels = [(label.name, label.description) for label in task.labels or []]
        return shapes.classification_shape(_max_chars(options, max_tokens, 1), labels)
    if task.type == TaskType.QA or name == StrategyName.DOCUMENT_QA:
        return shapes.qa_shape(_max_chars(options, max_tokens, 2))
    return shapes.instruction_shape(_max_chars(options, max_tokens, 2))


def replay_weights(weights: list[int], share: Fraction) -> list[int]:
    """`weights` with self-generated replay's weight appended, so that it is `share` of every period."""
    domain = [w * (share.denominator - share.numerator) for w in weights]
    replay = sum(weights) * share.numerator
    divisor = math.gcd(*domain, replay)
    return [w // divisor for w in [*domain, replay]]


def _hash_int(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class StrategyMix:
    def __init__(self, spec: DataFoundryJobSpec, inputs: Inputs) -> None:
        gen, task = spec.generator, spec.task
        if gen is None or task is None:
            raise ValueError("a generator and a task are needed to generate")
        chosen = effective_strategies(spec)
        if not chosen:
            raise ValueError("no strategy with a weight above 0")
        self.seed = gen.sampling.seed if gen.sampling.seed is not None else spec.seed
        self.inputs = inputs
        self.strategies: list[Strategy] = []
        judge = spec.judge_filter()
        for s in chosen:
            typed = s.options
            options = {} if typed is None else typed.model_dump(mode="json", by_alias=True, exclude_none=True)
            ctx = StrategyContext(task=task, inputs=inputs, options=options, max_tokens=gen.sampling.max_tokens,
                                  judge_rubric=judge.rubric if judge is not None else None,
                                  engine=gen.engine.type,
                                  drops_truncated=gen.screens.enabled and gen.screens.truncated)
            self.strategies.append(STRATEGIES[s.name](ctx, shape_for(s.name, spec, options, gen.sampling.max_tokens)))
        weights = [s.weight for s in chosen]
        generate, share = spec.replay_generation(), replay_share(spec)
        if generate is not None and share > 0:
            options = generate.model_dump(mode="json", by_alias=True, exclude_none=True)
            ctx = StrategyContext(task=task, inputs=inputs, options=options, max_tokens=gen.sampling.max_tokens,
                                  engine=gen.engine.type)
            shape = shapes.instruction_shape(_max_chars({}, gen.sampling.max_tokens, 2))
            self.strategies.append(SelfReplay(ctx, shape))
            weights = replay_weights(weights, share)
        self.schedule = Schedule(weights)

    def slot(self, round_: int, position: int) -> tuple[Strategy, Slot]:
        which, ordinal = self.schedule.pick(position)
        rng = random.Random(f"prompt:{self.seed}:{round_}:{position}")  # noqa: S311 - reproducible choices
        return self.strategies[which], Slot(position=position, ordinal=ordinal, rng=rng)

    def prompt(self, round_: int, position: int) -> Prompt:
        """The first prompt of the slot (strategies whose flow starts with `build`)."""
        strategy, slot = self.slot(round_, position)
        return strategy.build(slot)

    def flow(self, round_: int, position: int) -> tuple[Strategy, Flow]:
        strategy, slot = self.slot(round_, position)
        return strategy, strategy.flow(slot)

    def strategy(self, name: str) -> Strategy:
        return next(s for s in self.strategies if s.name == name)

    def sampling_seed(self, round_: int, position: int, call: int = 0) -> int:
        """One seed per request (n=1), hashed so that no two requests share a seed stream: the slot's first
        call, its second (the answer of an ask-then-answer shape) and any further call of a longer flow."""
        first = _hash_int("sample", self.seed, round_, position)
        if call == 0:
            return first
        if call == 1:
            return first ^ ANSWER_SEED_SALT
        return _hash_int("sample", self.seed, round_, position, call)

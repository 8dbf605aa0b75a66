"""Self-Instruct (Wang et al. 2023): prompts mix seed instructions with instructions the job already
generated, and a new instruction is kept only if it passes the pool's filters (see `pool`).

Each prompt shows `examples` seeds and `pooledExamples` instructions drawn from the pool (fewer while
the pool is small), shuffled together. The pool a chunk sees is the seeds, the accepted records of
earlier rounds (every shard) and those of this shard's earlier chunks in this round: shards of the
same round do not see each other's instructions, the next round sees them all. It is rebuilt from
finished parts only, so a resumed shard sees the pool an uninterrupted run saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from datafoundry.records.fields import ID_FIELD
from datafoundry.strategies.base import (
    SEED_PROMPT_FIELDS,
    Slot,
    Strategy,
    StrategyContext,
    question_list,
    seed_prompt,
    seed_text,
)
from datafoundry.strategies.pool import (
    DEFAULT_EXCLUDED_KEYWORDS,
    DEFAULT_MAX_SIMILARITY,
    DEFAULT_MAX_WORDS,
    DEFAULT_MIN_WORDS,
    DEFAULT_POOL_SIZE,
    InstructionPool,
)
from datafoundry.strategies.screens import PROMPT_FIELDS, first_field
from datafoundry.strategies.shapes import Shape

DEFAULT_EXAMPLES = 3
DEFAULT_POOLED_EXAMPLES = 2

TEMPLATE = """Here are examples of the records we need:

{examples}
{pooled}
Write one new record for the same domain. It must be different from every example: another \
topic, another angle, another level of difficulty. Do not copy or reword any example."""
POOLED = "\nRequests already written for this dataset (the new record must differ from these too):\n{requests}\n"

#: Ask-then-answer shapes: the model continues a list that starts with the seeds' and the pool's questions.
ASK_LIST = "List different questions that users ask about: {domain}"

def pool_for(ctx: StrategyContext) -> InstructionPool:
    """The job's pool: its seeds' prompts and the filters its options set (the typed spec bounds them)."""
    options = ctx.options
    seeds = ((s.id, text) for s in ctx.inputs.seeds if (text := first_field(s.data, SEED_PROMPT_FIELDS)))
    return InstructionPool(seeds, min_words=options.get("minWords", DEFAULT_MIN_WORDS),
                           max_words=options.get("maxWords", DEFAULT_MAX_WORDS),
                           max_similarity=options.get("maxSimilarity", DEFAULT_MAX_SIMILARITY),
                           excluded_keywords=tuple(options.get("excludedKeywords", DEFAULT_EXCLUDED_KEYWORDS)),
                           size=options.get("poolSize", DEFAULT_POOL_SIZE))


class SelfInstruct(Strategy):
    name: ClassVar[str] = "selfInstruct"
    remembers: ClassVar[bool] = True

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        super().__init__(ctx, shape)
        self.examples: int = ctx.options.get("examples", DEFAULT_EXAMPLES)
        self.pooled_examples: int = ctx.options.get("pooledExamples", DEFAULT_POOLED_EXAMPLES)
        self.pool = pool_for(ctx)

    def memory(self) -> int:
        return self.pool.generated.maxlen or 0

    def remember(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            if text := first_field(record, PROMPT_FIELDS):
                self.pool.add(str(record.get(ID_FIELD, "")), text)

    def admit(self, record: Mapping[str, Any]) -> str | None:
        text = first_field(record, PROMPT_FIELDS)
        return None if text is None else self.pool.admit(text, str(record.get(ID_FIELD, "")))

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        seeds = self.ctx.inputs.seeds
        picked = slot.rng.sample(seeds, min(self.examples, len(seeds)))
        pooled = self.pool.sample(slot.rng, self.pooled_examples)
        source: dict[str, Any] = {"seeds": [s.id for s in picked]}
        if pooled:
            source["pool"] = [p.id for p in pooled]
        if self.shape.ask is not None:
            questions = [*(seed_prompt(s) for s in picked), *(p.text for p in pooled)]
            slot.rng.shuffle(questions)
            source["questions"] = questions  # for ask(), which lists them
            return "", source, {}
        examples = "\n".join(f"Example {i + 1}: {seed_text(s)}" for i, s in enumerate(picked))
        requests = POOLED.format(requests="\n".join(f"- {p.text}" for p in pooled)) if pooled else ""
        return TEMPLATE.format(examples=examples, pooled=requests), source, {}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        return question_list(ASK_LIST.format(domain=self.ctx.task.domain), source.pop("questions"))

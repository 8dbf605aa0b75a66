"""Preference pairs ranked by a judge (UltraFeedback, Starling): a prompt, several sampled answers to
it, each scored by the judge; the best-scored answer is `chosen`, the worst `rejected`.

One record's calls, in order:

1. the prompt: the next item of a numbered list of questions (the list starts with a seed's
   question when the job has seeds, else it is empty and the domain alone inspires it);
2. `samples` answers to that prompt, the same sampling with a new seed per call (the worker derives
   each call's seed), so the answers differ as a model's answers do;
3. one judge call per answer that is complete (not cut at the token limit, while
   `generator.screens` drops truncated records: a pair with a cut answer would be dropped), not
   empty and not a refusal:
   the judge filter's prompt and
   rubric (the job's judge filter's, else the default), greedy, structured output `{"score": 0..10}`,
   sent to the judge's engine.

So a record costs at most 1 + 2 * samples calls (1 + samples + the answers scored). chosen is the
earliest answer with the highest score, rejected the latest with the lowest: deterministic, and two
different answers whenever two were scored. A record is dropped, by name, when fewer than two
answers were scored (`pair_unscored`), the scores differ by less than `minMargin`
(`pair_low_margin`: the judge cannot tell them apart), or the two texts are equal
(`pair_identical`); a prompt that comes out empty is dropped as `empty`. Different answers need a
sampling temperature above 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datafoundry.engines.base import Completion, Message
from datafoundry.records.judge import SCORE_MAX_TOKENS, SCORE_SCHEMA, judge_messages, parse_score
from datafoundry.strategies.base import (
    ASK_MAX_TOKENS,
    Call,
    Flow,
    Outcome,
    Slot,
    Strategy,
    StrategyContext,
    answer_system_message,
    ask_system_message,
    finish_of,
    parse_question,
    question_list,
    seed_prompt,
)
from datafoundry.strategies.shapes import Shape, clean, is_refusal

DEFAULT_SAMPLES = 4
#: Scores 0..10: answers two points apart are told apart by the judge, not by its noise.
DEFAULT_MIN_MARGIN = 2.0

UNSCORED, LOW_MARGIN, IDENTICAL = "pair_unscored", "pair_low_margin", "pair_identical"

ASK_LIST = "List different questions that users ask about: {domain}"


def rank(scores: Sequence[float | None]) -> tuple[int, int, float] | None:
    """(chosen, rejected, margin): the earliest sample with the highest score, the latest with the
    lowest, and the difference of their scores; None when fewer than two samples were scored."""
    scored = [(i, s) for i, s in enumerate(scores) if s is not None]
    if len(scored) < 2:
        return None
    best, worst = max(s for _, s in scored), min(s for _, s in scored)
    return min(i for i, s in scored if s == best), max(i for i, s in scored if s == worst), best - worst


class PreferencePairs(Strategy):
    name = "preferencePairs"

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        super().__init__(ctx, shape)
        self.samples: int = ctx.options.get("samples", DEFAULT_SAMPLES)  # the typed spec bounds both
        self.min_margin = float(ctx.options.get("minMargin", DEFAULT_MIN_MARGIN))

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        raise NotImplementedError("preferencePairs has no single-call prompt: see flow()")

    def ask_messages(self, slot: Slot, source: dict[str, Any]) -> tuple[Message, ...]:
        """The prompt call: continue a numbered list of questions (a seed's first, when there are seeds)."""
        listed: list[str] = []
        if self.ctx.inputs.seeds:
            seed = slot.rng.choice(self.ctx.inputs.seeds)
            source["seed"] = seed.id
            listed.append(seed_prompt(seed))
        ask, prefill = question_list(ASK_LIST.format(domain=self.ctx.task.domain), listed)
        return (ask_system_message(self.ctx.task), {"role": "user", "content": ask},
                {"role": "assistant", "content": prefill})

    def judge_call(self, prompt: str, response: str) -> Call:
        return Call(judge_messages({"prompt": prompt, "response": response}, self.ctx.judge_rubric),
                    schema=SCORE_SCHEMA, max_tokens=SCORE_MAX_TOKENS, temperature=0.0, judge=True)

    def flow(self, slot: Slot) -> Flow:
        source: dict[str, Any] = {}
        asked = yield Call(self.ask_messages(slot, source), max_tokens=min(ASK_MAX_TOKENS, self.ctx.max_tokens),
                           stop=("\n",))
        prompt = parse_question(asked.text)
        if not prompt:
            return Outcome(None, "empty", finish_of(asked), source)
        answer = (answer_system_message(self.ctx.task), {"role": "user", "content": prompt})
        answers: list[Completion] = []
        for _ in range(self.samples):
            answers.append((yield Call(answer)))
        texts = [clean(a.text).strip() for a in answers]
        scores: list[float | None] = []
        for text, done in zip(texts, answers, strict=True):
            if not text or is_refusal(text) or (self.ctx.drops_truncated and done.finish_reason == "length"):
                scores.append(None)
                continue
            judged = yield self.judge_call(prompt, text)
            scores.append(parse_score(judged.text))
        source.update(samples=self.samples, scores=scores)
        ranked = rank(scores)
        if ranked is None:
            return Outcome(None, UNSCORED, finish_of(asked), source)
        chosen, rejected, margin = ranked
        source.update(chosen=chosen, rejected=rejected, margin=margin)
        finish = finish_of(asked, answers[chosen], answers[rejected])
        if margin < self.min_margin:
            return Outcome(None, LOW_MARGIN, finish, source)
        if " ".join(texts[chosen].split()) == " ".join(texts[rejected].split()):
            return Outcome(None, IDENTICAL, finish, source)
        return Outcome({"prompt": prompt, "chosen": texts[chosen], "rejected": texts[rejected]}, None, finish, source)

"""preferencePairs' flow, driven by a scripted engine (pure logic; tests/integration/test_generate_worker.py
runs it on vLLM): the prompt, the sampled answers, the judge's scores, the ranking and each drop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines.base import Completion
from datafoundry.records.judge import DEFAULT_RUBRIC, SCORE_SCHEMA
from datafoundry.strategies.base import Call, Inputs, Outcome, Seed
from datafoundry.strategies.preference_pairs import IDENTICAL, LOW_MARGIN, UNSCORED, PreferencePairs, rank
from datafoundry.strategies.registry import StrategyMix
from datafoundry.strategies.screens import PARSE_FAILURES, SCREEN_NAMES

QUESTION = "How do I drain a node before kernel maintenance?"
GOOD = ("Cordon it and evict its pods: kubectl drain node-1 --ignore-daemonsets --delete-emptydir-data. "
        "Uncordon it with kubectl uncordon node-1 when the maintenance is over.")
FAIR = "Run kubectl drain node-1; it evicts the pods so you can patch the kernel."
POOR = "Nodes are machines in a cluster."
WRONG = "Delete the node with kubectl delete node node-1 and create it again later."
SEEDS = (Seed("seeds.inline[0]", {"instruction": "How do I restart a deployment?", "response": "rollout restart"}),)

Script = Callable[[Call], Completion]


def done(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, prompt_tokens=10, completion_tokens=len(text.split()), finish_reason=finish)


def pairs(options: dict[str, Any] | None = None, seeds: tuple[Seed, ...] = (), filters: list[Any] | None = None,
          screens: dict[str, Any] | None = None) -> tuple[StrategyMix, PreferencePairs]:
    spec = DataFoundryJobSpec.model_validate({
        "task": {"type": "preference", "domain": "Kubernetes operations"}, "target": {"records": 10},
        "generator": {"model": "m", "strategies": [{"name": "preferencePairs", "options": options or {}}],
                      **({"screens": screens} if screens else {})},
        **({"filters": filters} if filters else {}),
        "output": {"uri": "file:///out"}, "seed": 5,
    })
    mix = StrategyMix(spec, Inputs(seeds=seeds))
    strategy = mix.strategies[0]
    assert isinstance(strategy, PreferencePairs)
    return mix, strategy


def judged_response(call: Call) -> str:
    """The response a judge call shows the judge."""
    shown = call.messages[1]["content"].removeprefix("Example:\n")
    response: str = json.loads(shown)["response"]
    return response


def engine(answers: list[Completion], scores: dict[str, str], question: Completion | None = None) -> Script:
    """The ask call gets `question`, the i-th answer call `answers[i]`, a judge call the score its response maps to."""
    left = iter(answers)

    def answer(call: Call) -> Completion:
        if call.judge:
            return done(scores[judged_response(call)])
        if call.messages[-1]["role"] == "assistant":  # the ask: a numbered list to continue
            return question or done(f" {QUESTION}")
        return next(left)

    return answer


def drive(mix: StrategyMix, script: Script, position: int = 0) -> tuple[Outcome, list[Call]]:
    _, flow = mix.flow(0, position)
    calls: list[Call] = []
    try:
        call = next(flow)
        while True:
            calls.append(call)
            call = flow.send(script(call))
    except StopIteration as stop:
        outcome: Outcome = stop.value
    return outcome, calls


def test_the_best_scored_answer_is_chosen_and_the_worst_rejected() -> None:
    mix, _ = pairs()
    answers = [done(FAIR), done(GOOD), done(WRONG), done(POOR)]
    outcome, calls = drive(mix, engine(answers, {FAIR: '{"score": 6}', GOOD: '{"score": 9}', WRONG: '{"score": 2}',
                                                 POOR: '{"score": 3}'}))
    assert outcome.record == {"prompt": QUESTION, "chosen": GOOD, "rejected": WRONG}
    assert outcome.failure is None and outcome.finish_reason == "stop"
    assert outcome.source == {"samples": 4, "scores": [6.0, 9.0, 2.0, 3.0], "chosen": 1, "rejected": 2,
                              "margin": 7.0}
    # 1 prompt + 4 answers + 4 judge calls, in that order.
    ask, answer_calls, judge_calls = calls[0], calls[1:5], calls[5:]
    assert len(calls) == 9 and not ask.judge and ask.stop == ("\n",)
    assert all(not c.judge and c.messages == answer_calls[0].messages for c in answer_calls)
    assert answer_calls[0].messages[-1] == {"role": "user", "content": QUESTION}
    assert [judged_response(c) for c in judge_calls] == [FAIR, GOOD, WRONG, POOR]
    for c in judge_calls:
        assert c.judge and c.temperature == 0.0 and c.schema == SCORE_SCHEMA and c.max_tokens
        assert c.messages[0]["content"].startswith(DEFAULT_RUBRIC)
        assert json.loads(c.messages[1]["content"].removeprefix("Example:\n"))["prompt"] == QUESTION


def test_ties_go_to_the_earliest_best_and_the_latest_worst() -> None:
    assert rank([8.0, 8.0, 3.0, 3.0]) == (0, 3, 5.0)
    assert rank([None, 5.0, 5.0, None]) == (1, 2, 0.0)
    assert rank([4.0, None, None]) is None
    mix, _ = pairs({"minMargin": 0})
    answers = [done(FAIR), done(GOOD), done(POOR), done(WRONG)]
    outcome, _ = drive(mix, engine(answers, dict.fromkeys((FAIR, GOOD, POOR, WRONG), '{"score": 5}')))
    assert outcome.record == {"prompt": QUESTION, "chosen": FAIR, "rejected": WRONG}
    assert outcome.source["margin"] == 0.0


def test_empty_refused_and_unparsed_answers_are_unscored() -> None:
    mix, _ = pairs()
    refusal = "I'm sorry, but I can't help with that."
    answers = [done(" \n"), done(refusal), done(GOOD), done(FAIR)]
    outcome, calls = drive(mix, engine(answers, {GOOD: '{"score": 8}', FAIR: "no score at all"}))
    assert outcome.record is None and outcome.failure == UNSCORED
    assert outcome.source["scores"] == [None, None, 8.0, None]
    assert len(calls) == 1 + 4 + 2  # only the two non-empty, non-refused answers went to the judge


def test_an_answer_cut_at_the_token_limit_is_not_ranked() -> None:
    mix, _ = pairs()
    cut = GOOD[: len(GOOD) // 2]
    answers = [done(cut, "length"), done(WRONG), done(GOOD), done(POOR)]
    outcome, calls = drive(mix, engine(answers, {WRONG: "2", GOOD: "9", POOR: "3"}))
    assert outcome.record == {"prompt": QUESTION, "chosen": GOOD, "rejected": WRONG}
    assert outcome.source["scores"] == [None, 2.0, 9.0, 3.0] and outcome.finish_reason == "stop"
    assert len(calls) == 1 + 4 + 3  # the cut answer never went to the judge
    for screens in ({"truncated": False}, {"enabled": False}):  # no truncated screen: a cut answer is ranked
        outcome, calls = drive(pairs(screens=screens)[0], engine(list(answers), {cut: "1", WRONG: "2", GOOD: "9",
                                                                                 POOR: "3"}))
        assert outcome.source["scores"] == [1.0, 2.0, 9.0, 3.0] and len(calls) == 1 + 4 + 4
        assert outcome.record is not None and outcome.record["rejected"] == cut


def test_a_margin_below_min_margin_drops_the_pair() -> None:
    answers = [done(FAIR), done(GOOD), done(POOR), done(WRONG)]
    close = {FAIR: '{"score": 6}', GOOD: '{"score": 7}', POOR: '{"score": 6}', WRONG: '{"score": 6}'}
    outcome, _ = drive(pairs()[0], engine(answers, close))
    assert outcome.failure == LOW_MARGIN and outcome.source["margin"] == 1.0
    two_apart = {**close, WRONG: '{"score": 5}'}
    outcome, _ = drive(pairs()[0], engine(list(answers), two_apart))
    assert outcome.record is not None and (outcome.record["chosen"], outcome.record["rejected"]) == (GOOD, WRONG)
    outcome, _ = drive(pairs({"minMargin": 3})[0], engine(list(answers), two_apart))
    assert outcome.failure == LOW_MARGIN


def test_equal_texts_are_no_pair() -> None:
    spaced = GOOD.replace(" ", "  ", 3) + "\n"
    answers = [done(GOOD), done(spaced)]
    scores = iter(['{"score": 9}', '{"score": 4}'])

    def script(call: Call) -> Completion:
        if call.judge:
            return done(next(scores))
        return done(f" {QUESTION}") if call.messages[-1]["role"] == "assistant" else answers.pop(0)

    outcome, _ = drive(pairs({"samples": 2})[0], script)
    assert outcome.failure == IDENTICAL and outcome.record is None


def test_an_empty_prompt_is_dropped_before_any_answer() -> None:
    outcome, calls = drive(pairs()[0], engine([], {}, question=done("  ")))
    assert outcome.failure == "empty" and len(calls) == 1


@pytest.mark.parametrize("samples", [2, 8])
def test_calls_per_record_are_one_plus_samples_plus_the_scored(samples: int) -> None:
    texts = [f"Answer number {i}: {FAIR}" for i in range(samples)]
    scores = {t: json.dumps({"score": i % 11}) for i, t in enumerate(texts)}
    outcome, calls = drive(pairs({"samples": samples})[0], engine([done(t) for t in texts], scores))
    assert len(calls) == 1 + 2 * samples
    assert outcome.source["samples"] == samples and len(outcome.source["scores"]) == samples


def test_the_prompt_continues_a_list_that_starts_with_a_seed_else_the_domain() -> None:
    mix, _ = pairs(seeds=SEEDS)
    outcome, calls = drive(mix, engine([done(GOOD), done(WRONG)] * 2, {GOOD: "9", WRONG: "1"}))
    ask = calls[0].messages
    assert "Kubernetes operations" in ask[1]["content"]
    assert ask[2] == {"role": "assistant", "content": "1. How do I restart a deployment?\n2."}
    assert outcome.source["seed"] == "seeds.inline[0]"
    mix, _ = pairs()
    outcome, calls = drive(mix, engine([done(GOOD), done(WRONG)] * 2, {GOOD: "9", WRONG: "1"}))
    assert calls[0].messages[2] == {"role": "assistant", "content": "1."} and "seed" not in outcome.source


def test_the_judge_filters_rubric_ranks_the_answers() -> None:
    rubric = "Score only whether the answer gives a runnable kubectl command."
    mix, strategy = pairs(filters=[{"type": "judge", "rubric": rubric}])
    assert strategy.ctx.judge_rubric == rubric
    _, calls = drive(mix, engine([done(GOOD), done(WRONG)] * 2, {GOOD: "9", WRONG: "1"}))
    assert all(c.messages[0]["content"].startswith(rubric) for c in calls if c.judge)
    assert pairs(filters=[{"type": "judge"}])[1].ctx.judge_rubric is None  # the default rubric then


def test_a_rerun_asks_the_same_calls() -> None:
    answers = [done(FAIR), done(GOOD), done(WRONG), done(POOR)]
    scores = {FAIR: "6", GOOD: "9", WRONG: "2", POOR: "3"}
    first = drive(pairs(seeds=SEEDS)[0], engine(list(answers), scores), position=3)
    assert drive(pairs(seeds=SEEDS)[0], engine(list(answers), scores), position=3) == first


@pytest.mark.parametrize(("options", "named"), [
    ({"samples": 1}, "samples"), ({"samples": 9}, "samples"), ({"samples": 2.5}, "samples"),
    ({"samples": "4"}, "samples"), ({"minMargin": -1}, "minMargin"), ({"minMargin": 11}, "minMargin"),
    ({"minMargin": True}, "minMargin"),
])
def test_bad_options_name_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"options\.{named}"):  # the typed spec refuses it, by path
        pairs(options)


def test_the_drops_are_counted_as_screened_out() -> None:
    assert {UNSCORED, LOW_MARGIN, IDENTICAL} <= SCREEN_NAMES
    assert not {UNSCORED, LOW_MARGIN, IDENTICAL} & PARSE_FAILURES

"""Self-generated replay (mix.replay.generate): Magpie with the domain taken out, mixed into the
generator's schedule at the replay's share."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.records.fields import REPLAY_STRATEGY
from datafoundry.strategies.base import Inputs, Seed
from datafoundry.strategies.magpie import NOT_A_REQUEST
from datafoundry.strategies.registry import StrategyMix
from datafoundry.strategies.replay_self import SelfReplay, general_system_prompt

from .test_magpie import ANSWER, run

DOMAIN = "Kubernetes operations Q&A for SREs"
SEEDS = Inputs(seeds=(Seed("s0", {"instruction": "How do I roll back a Deployment?",
                                  "response": "Run kubectl rollout undo deployment/<name>."}),))


def spec(replay: dict[str, Any], *, task: dict[str, Any] | None = None,
         strategies: list[dict[str, Any]] | None = None, engine: dict[str, Any] | None = None) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": DOMAIN, "seeds": {"inline": [dict(SEEDS.seeds[0].data)]}, **(task or {})},
        "target": {"records": 100},
        "generator": {"model": "m", "strategies": strategies or [{"name": "selfInstruct", "weight": 2},
                                                                 {"name": "evolInstruct", "weight": 1}],
                      **({"engine": engine} if engine else {})},
        "mix": {"replay": replay},
        "output": {"uri": "file:///o"}})


def replay_of(mix: StrategyMix) -> SelfReplay:
    strategy = mix.strategy(REPLAY_STRATEGY)
    assert isinstance(strategy, SelfReplay)
    return strategy


def test_replay_takes_its_share_of_the_schedule_and_the_strategies_keep_their_weights() -> None:
    mix = StrategyMix(spec({"generate": {}, "ratio": 0.2}), SEEDS)
    names = Counter(mix.slot(0, p)[0].name for p in range(1500))
    assert names == {"selfInstruct": 800, "evolInstruct": 400, REPLAY_STRATEGY: 300}
    # Without mix.replay.generate the schedule is the strategies' alone.
    plain = StrategyMix(spec({"uri": "s3://bucket/replay/", "ratio": 0.2}), SEEDS)
    assert REPLAY_STRATEGY not in {s.name for s in plain.strategies}


def test_a_number_of_replay_records_sets_the_share_from_the_target() -> None:
    mix = StrategyMix(spec({"generate": {}, "records": 25}), SEEDS)
    names = Counter(mix.slot(0, p)[0].name for p in range(1000))
    assert names[REPLAY_STRATEGY] == 200  # 25 / (100 + 25)


@pytest.mark.parametrize("task", [{}, {"type": "qa"}, {"type": "dialogue"}])
def test_the_model_asks_and_answers_as_a_general_assistant_whatever_the_task(task: dict[str, Any]) -> None:
    strategies = [{"name": "multiTurn"}] if task.get("type") == "dialogue" else None
    mix = StrategyMix(spec({"generate": {}, "ratio": 0.5}, task=task, strategies=strategies), SEEDS)
    replay = replay_of(mix)
    position = next(p for p in range(10) if mix.slot(0, p)[0] is replay)
    query = "What is a simple, yet efficient, method for finding the longest prefix of a given string in Python?"
    calls, outcome = run(mix, [query, ANSWER], position)
    assert outcome.failure is None and outcome.record == {"instruction": query, "response": ANSWER}
    general = {"role": "system", "content": general_system_prompt("en")}
    ask, answer = calls
    assert ask.open_user_turn and ask.messages == (general,) and ask.pre_query_template is None
    assert answer.messages == (general, {"role": "user", "content": query})  # no domain, no task guidance
    assert DOMAIN not in repr(calls)


def test_the_replay_s_own_system_prompt_and_template_reach_its_calls() -> None:
    template = "<|im_start|>system\nYou are a careful assistant.<|im_end|>\n<|im_start|>user\n"
    mix = StrategyMix(spec({"generate": {"systemPrompt": "You are a careful assistant.", "preQueryTemplate": template},
                            "ratio": 0.5}, engine={"type": "openai", "endpoint": "http://vllm:8000/v1"}), SEEDS)
    replay = replay_of(mix)
    position = next(p for p in range(10) if mix.slot(0, p)[0] is replay)
    calls, _ = run(mix, ["Can you explain how vaccines train the immune system?", ANSWER], position)
    assert calls[0].pre_query_template == template
    assert calls[1].messages[0] == {"role": "system", "content": "You are a careful assistant."}


#: What SmolLM2-135M-Instruct wrote in the open user turn after the general system turn (the quickstart with
#: mix.replay.generate, temperature 0.7): the assistant's side, not a user's request.
ASSISTANT_SIDE = ["What can I do for you today? I'm here to help with any project, whether it's writing a story or "
                  "just helping out anyone across the world.", "Hello! How can I help you today?"]
#: ... and user requests it wrote there, which are kept.
USER_SIDE = ["Can you provide me with some tips on how to deal with a bad habit? I'm struggling to come up with an "
             "effective plan that will help me overcome my addiction of alcohol and improve myself?",
             "I'm trying to create an online platform that offers role-playing games and it needs to have a "
             "user-friendly interface, but I don't want any special features like a login or password. Can you "
             "help me?"]


@pytest.mark.parametrize("query", ASSISTANT_SIDE)
def test_the_assistant_s_greeting_is_not_a_user_request(query: str) -> None:
    mix = StrategyMix(spec({"generate": {}, "ratio": 0.5}), SEEDS)
    position = next(p for p in range(10) if mix.slot(0, p)[0].name == REPLAY_STRATEGY)
    _, outcome = run(mix, [query], position)
    assert outcome.record is None and outcome.failure == NOT_A_REQUEST


@pytest.mark.parametrize("query", USER_SIDE)
def test_a_user_s_request_is_kept(query: str) -> None:
    mix = StrategyMix(spec({"generate": {}, "ratio": 0.5}), SEEDS)
    position = next(p for p in range(10) if mix.slot(0, p)[0].name == REPLAY_STRATEGY)
    _, outcome = run(mix, [query, ANSWER], position)
    assert outcome.failure is None and outcome.record == {"instruction": query, "response": ANSWER}

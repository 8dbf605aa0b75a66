"""Magpie: the model writes the user's query in an open user turn, a second call answers it; queries
that are empty, too short or not a request are dropped by name (proven on real model text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines.base import Completion
from datafoundry.strategies.base import Call, Inputs, Outcome
from datafoundry.strategies.magpie import (
    NOT_A_REQUEST,
    TOO_SHORT,
    Magpie,
    default_system_prompt,
    query_failure,
    short_hash,
)
from datafoundry.strategies.registry import StrategyMix

DOMAIN = "Kubernetes cluster operations"
ANSWER = "Run `kubectl rollout undo deployment/web` to go back to the previous revision."


def spec(options: dict[str, Any] | None = None, *, task: dict[str, Any] | None = None,
         engine: dict[str, Any] | None = None) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": DOMAIN, **(task or {})},
        "target": {"records": 4},
        "generator": {"model": "m", "strategies": [{"name": "magpie", **({"options": options} if options else {})}],
                      **({"engine": engine} if engine else {})},
        "output": {"uri": "file:///o"}})


def magpie(options: dict[str, Any] | None = None, **kw: Any) -> tuple[StrategyMix, Magpie]:
    mix = StrategyMix(spec(options, **kw), Inputs())
    strategy = mix.strategies[0]
    assert isinstance(strategy, Magpie)
    return mix, strategy


def run(mix: StrategyMix, replies: Sequence[str], position: int = 0) -> tuple[list[Call], Outcome]:
    """Drive one slot's flow with scripted completions; the calls it made and its outcome."""
    _, flow = mix.flow(0, position)
    calls, pending = [], list(replies)
    call = next(flow)
    while True:
        calls.append(call)
        try:
            call = flow.send(Completion(pending.pop(0), 10, 10, "stop"))
        except StopIteration as stop:
            return calls, stop.value


#: Queries SmolLM2-135M-Instruct wrote after its chat template's "<|im_start|>user\n" (system turn: the default
#: system prompt for "Kubernetes cluster operations", or none), temperature 1.0.
REAL_QUERIES = [
    "Can you explain to me the difference between a failover and backup in Kubernetes?",
    "I'm looking to set up a Dockerfile to set up a deployment for a Docker container. Can you provide some "
    "recommendations on the best Dockerfile command to create a Kubernetes deployment?",
    "I need a team of 3 ready to assist with the latest version of a Kubernetes cluster.",
    "What is a simple, yet efficient, method for finding the longest prefix of a given string in Python?",
]


@pytest.mark.parametrize("query", REAL_QUERIES)
def test_a_real_user_query_becomes_the_instruction_and_is_answered(query: str) -> None:
    mix, strategy = magpie()
    calls, outcome = run(mix, [query, ANSWER])
    assert outcome.failure is None
    assert outcome.record == {"instruction": query, "response": ANSWER}
    ask, answer = calls
    assert ask.open_user_turn and ask.messages == ({"role": "system", "content": strategy.system_prompt},)
    assert ask.schema is None
    assert not answer.open_user_turn and answer.messages[-1] == {"role": "user", "content": query}
    assert outcome.source == {"template": "vllm", "systemPrompt": short_hash(strategy.system_prompt)}


#: SmolLM2-135M-Instruct's own text where a query should be: its answers (the assistant's side) and a
#: letter's salutation, cut to the first paragraph as the flow does.
@pytest.mark.parametrize(("text", "reason"), [
    ("Absolutely. Here are some of the top 10 health benefits of eating meat:\n\n1. Protein: Meat is rich in "
     "protein, which plays a crucial role in maintaining overall health.", NOT_A_REQUEST),
    ("I'd be happy to help you with that. In the context of machine learning, a knowledge graph is a data "
     "structure that encodes knowledge in a structured way.", NOT_A_REQUEST),
    ("I'm glad you're looking to set up a Dockerfile. Here's a suggested Dockerfile creation command:\n\n```\n"
     "# Create a Kubernetes deployment\n```", NOT_A_REQUEST),
    ("A team of 3 is a great starting point for any Kubernetes cluster. Here's a sample of how you can create a "
     "3-person team:", NOT_A_REQUEST),
    ("In Kubernetes, a failover refers to the ability to serve multiple virtual machines (VMs) across a cluster "
     "and ensure that they are not affected by failures.", NOT_A_REQUEST),
    ("Hi kuszki,\n\nI hope you're doing well. As I mentioned to our IT department, we have a company looking to "
     "upgrade its data center infrastructure.", TOO_SHORT),
    ("  \n\n ", "magpie_empty"),
    ("Hello! How can I assist you with your Kubernetes cluster today?", NOT_A_REQUEST),  # a greeting, not real
])
def test_an_answer_chat_filler_or_fragment_instead_of_a_query_is_dropped_by_name(text: str, reason: str) -> None:
    mix, _ = magpie()
    calls, outcome = run(mix, [text])
    assert outcome.record is None and outcome.failure == reason
    assert len(calls) == 1  # no answer call for a query that is not one


def test_a_refused_or_empty_answer_drops_the_record() -> None:
    mix, _ = magpie()
    assert run(mix, [REAL_QUERIES[0], "I'm sorry, I can't help with that."])[1].failure == "refusal"
    assert run(mix, [REAL_QUERIES[0], "  "])[1].failure == "empty_answer"


def test_qa_tasks_get_the_question_field_and_the_system_prompt_option_steers_the_query() -> None:
    mix, strategy = magpie({"systemPrompt": "You are a networking expert."}, task={"type": "qa"})
    calls, outcome = run(mix, [REAL_QUERIES[0], ANSWER])
    assert outcome.record == {"question": REAL_QUERIES[0], "answer": ANSWER}
    assert calls[0].messages[0]["content"] == "You are a networking expert."
    assert strategy.source["systemPrompt"] != magpie()[1].source["systemPrompt"]


def test_the_default_system_prompt_names_the_domain_and_language() -> None:
    _, strategy = magpie(task={"language": "de"})
    assert strategy.system_prompt == default_system_prompt(DOMAIN, "de")
    assert DOMAIN in strategy.system_prompt and "'de'" in strategy.system_prompt


def test_an_openai_engine_records_that_the_pre_query_template_wrote_the_turn() -> None:
    template = "<|im_start|>system\nYou help with Kubernetes.<|im_end|>\n<|im_start|>user\n"
    mix, strategy = magpie({"preQueryTemplate": template}, engine={"type": "openai", "endpoint": "http://vllm:8000/v1"})
    assert strategy.source == {"template": "preQueryTemplate", "preQueryTemplate": short_hash(template)}
    calls, _ = run(mix, [REAL_QUERIES[0], ANSWER])
    assert calls[0].pre_query_template == template  # each request carries its strategy's template


def test_the_same_slot_makes_the_same_calls() -> None:
    mix, _ = magpie()
    assert run(mix, [REAL_QUERIES[0], ANSWER], 3) == run(mix, [REAL_QUERIES[0], ANSWER], 3)


def test_outside_english_only_answer_openers_drop_a_query() -> None:
    assert query_failure("Wie setze ich ein Deployment auf die vorige Version zurück", english=False) is None
    assert query_failure("Wie setze ich ein Deployment auf die vorige Version zurück", english=True) == NOT_A_REQUEST
    assert query_failure("Sure, ich erkläre es dir gern.", english=False) == NOT_A_REQUEST


def test_magpie_needs_no_seeds_and_is_no_default_strategy() -> None:
    job = spec()
    assert job.task is not None and job.task.seeds is None
    seeded = DataFoundryJobSpec.model_validate({
        "task": {"domain": DOMAIN, "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 1}, "generator": {"model": "m"}, "output": {"uri": "file:///o"}})
    from datafoundry.api.spec import StrategyName, effective_strategies

    assert StrategyName.MAGPIE not in [s.name for s in effective_strategies(seeded)]

"""Evol-Instruct: operations, generations, WizardLM's elimination rules on real instruction text, the path."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.engines.base import Completion
from datafoundry.strategies.base import Call, Inputs, Outcome, Seed, Slot
from datafoundry.strategies.evol_instruct import OPERATIONS, EvolInstruct, answer_failure, elimination
from datafoundry.strategies.registry import StrategyMix
from datafoundry.strategies.screens import PARSE_FAILURES, SCREEN_NAMES

SEED = "How do I restart a deployment?"
INPUTS = Inputs(seeds=(Seed("s0", {"instruction": SEED, "response": "kubectl rollout restart"}),))
ANSWER = "Run `kubectl rollout restart deployment/web -n shop`, then watch `kubectl rollout status`."


def strategy(task_type: str = "instruction", **options: Any) -> EvolInstruct:
    task: dict[str, Any] = {"type": task_type, "domain": "Kubernetes operations",
                            "seeds": {"inline": [{"instruction": SEED}]}}
    if task_type == "classification":
        task["labels"] = [{"name": "bug"}, {"name": "question"}]
    spec = DataFoundryJobSpec.model_validate({
        "task": task, "target": {"records": 10}, "output": {"uri": "file:///out"},
        "generator": {"model": "m", "strategies": [{"name": "evolInstruct", "options": options}]}})
    s = StrategyMix(spec, INPUTS).strategies[0]
    assert isinstance(s, EvolInstruct)
    return s


def slot(position: int = 0) -> Slot:
    return Slot(position=position, ordinal=position, rng=random.Random(f"slot:{position}"))


Reply = Callable[[Call, int], str]


def drive(s: EvolInstruct, reply: Reply, position: int = 0) -> tuple[Outcome, list[Call]]:
    """Run a slot's flow against a scripted engine: `reply(call, index)` is each completion's text."""
    flow, calls = s.flow(slot(position)), []
    call = next(flow)
    try:
        while True:
            calls.append(call)
            call = flow.send(Completion(reply(call, len(calls) - 1), 10, 10, "stop"))
    except StopIteration as stop:
        return stop.value, calls


def parent_of(call: Call) -> str:
    return str(call.messages[1]["content"]).split("\n\n", 1)[1]


def evolving(call: Call, index: int) -> str:
    """Each evolution names other concrete objects; the answer call gets the answer."""
    if call.stop == ("\n",):
        return f" How do I restart deployment web-{index} in namespace shop-{index} with maxSurge {index}?"
    return ANSWER


def test_each_operation_has_its_prompt_continuing_a_list() -> None:
    for operation, intro in OPERATIONS.items():
        s = strategy(operations=[operation], generations=1)
        outcome, calls = drive(s, evolving)
        user, prefill = calls[0].messages[1]["content"], calls[0].messages[2]
        assert user == f"{intro}\n\n{SEED}" and prefill == {"role": "assistant", "content": "1."}
        assert calls[0].stop == ("\n",) and calls[0].schema is None
        assert outcome.source["evolutions"] == [{"operation": operation, "generation": 1}]
    assert "several explicit steps" in OPERATIONS["increaseReasoning"]
    assert "log excerpt" in OPERATIONS["complicateInput"] and "code snippet" in OPERATIONS["complicateInput"]
    assert "brand-new" in OPERATIONS["breadth"] and "long-tail" in OPERATIONS["breadth"]


@pytest.mark.parametrize("generations", [1, 3, 8])
def test_generations_evolve_the_last_survivor_then_answer(generations: int) -> None:
    outcome, calls = drive(strategy(generations=generations), evolving)
    assert len(calls) == generations + 1
    assert parent_of(calls[0]) == SEED
    for index, call in enumerate(calls[1:-1], 1):  # each generation evolves the one before
        assert parent_of(call) == evolving(calls[index - 1], index - 1).strip()
    assert calls[-1].messages[-1]["content"] == outcome.record["instruction"]  # type: ignore[index]
    assert outcome.record == {"instruction": evolving(calls[-2], generations - 1).strip(), "response": ANSWER}
    assert [e["generation"] for e in outcome.source["evolutions"]] == list(range(1, generations + 1))
    assert outcome.source["seed"] == "s0" and outcome.source["eliminated"] == []


def test_an_eliminated_evolution_restarts_from_its_parent_and_is_recorded() -> None:
    def second_echoes(call: Call, index: int) -> str:
        return "Rewritten Prompt: restart it" if index == 1 else evolving(call, index)

    outcome, calls = drive(strategy(generations=3), second_echoes)
    assert parent_of(calls[2]) == parent_of(calls[1])  # generation 3 starts again from generation 1's survivor
    ops = [str(c.messages[1]["content"]).split("\n\n")[0] for c in calls[:3]]
    names = {intro: name for name, intro in OPERATIONS.items()}
    assert outcome.source["evolutions"] == [{"operation": names[ops[0]], "generation": 1},
                                            {"operation": names[ops[2]], "generation": 3}]
    assert outcome.source["eliminated"] == [{"operation": names[ops[1]], "generation": 2,
                                             "reason": "evol_copies_prompt"}]
    assert outcome.record is not None


def test_no_survivor_fails_the_slot_with_the_last_reason() -> None:
    def refusing(call: Call, index: int) -> str:
        return " " + SEED if index < 2 else " I'm sorry, but I cannot help with that."

    outcome, calls = drive(strategy(generations=3), refusing)
    assert len(calls) == 3 and outcome.record is None and outcome.failure == "evol_refusal"
    assert [e["reason"] for e in outcome.source["eliminated"]] == ["evol_no_change", "evol_no_change",
                                                                   "evol_refusal"]
    assert outcome.source["evolutions"] == []


def test_the_same_slot_gives_the_same_calls_and_others_differ() -> None:
    s = strategy(generations=4)
    first, again = drive(s, evolving, 5), drive(strategy(generations=4), evolving, 5)
    assert first == again
    paths = {tuple(e["operation"] for e in drive(s, evolving, p)[0].source["evolutions"]) for p in range(20)}
    assert len(paths) > 10
    assert {op for path in paths for op in path} == set(OPERATIONS)


PARENT = "How do I restart a deployment?"


@pytest.mark.parametrize(("evolved", "reason"), [
    ("How do I restart the web deployment in namespace shop without dropping requests?", None),
    ("Given this log excerpt `Back-off restarting failed container app in pod web-7d9f`, how do I restart "
     "the deployment?", None),
    ("Write an apology e-mail saying sorry to customers for the outage caused by a failed deployment restart.",
     None),
    ("Explain step by step why restarting a deployment replaces its pods one at a time, and what maxSurge "
     "changes.", None),
    ("", "evol_empty"),
    ("How do I restart a deployment?", "evol_no_change"),
    ("How can I restart this deployment?", "evol_no_change"),  # no new content word
    ("So how do I restart a deployment, then?", "evol_no_change"),
    ("#Rewritten Prompt#: How do I restart a deployment in namespace shop?", "evol_copies_prompt"),
    ("The given prompt asks how to restart a deployment with zero downtime.", "evol_copies_prompt"),
    ("Harder versions of this request, each adding one more constraint: restart with zero downtime",
     "evol_copies_prompt"),
    ("I'm sorry, but I cannot rewrite this request about restarting deployments.", "evol_refusal"),
    ("Sorry, I do not know about kubectl rollouts in namespaces.", "evol_refusal"),
    ("As an AI language model I cannot restart your cluster.", "evol_refusal"),
])
def test_elimination_rules_on_real_instructions(evolved: str, reason: str | None) -> None:
    assert elimination(evolved, PARENT, "addConstraints") == reason
    assert reason is None or reason in SCREEN_NAMES


@pytest.mark.parametrize(("answer", "reason"), [
    (ANSWER, None),
    ("Sorry to hear that! " + "Run kubectl rollout restart deployment/web and check the rollout status. " * 12,
     None),  # "sorry" in a long, real answer: WizardLM only drops short ones
    ("", "empty_answer"),
    ("I'm sorry, I can't help with restarting deployments.", "refusal"),
    ("Sorry, that is not something I know.", "refusal"),
    ("...", "answer_only_punctuation"),
    ("It is what it is.", "answer_only_punctuation"),
])
def test_answer_elimination(answer: str, reason: str | None) -> None:
    assert answer_failure(answer) == reason
    assert reason is None or reason in SCREEN_NAMES | PARSE_FAILURES


def test_a_refused_answer_fails_the_slot() -> None:
    def refused(call: Call, index: int) -> str:
        return evolving(call, index) if call.stop else "I'm sorry, I can't answer that."

    outcome, _ = drive(strategy(generations=2), refused)
    assert outcome.failure == "refusal" and len(outcome.source["evolutions"]) == 2


def test_shapes_without_an_ask_step_write_the_record_for_the_evolved_instruction() -> None:
    s = strategy("classification", generations=2)

    def labelled(call: Call, index: int) -> str:
        return evolving(call, index) if call.schema is None else '{"text": "pods restart in a loop", "label": "bug"}'

    outcome, calls = drive(s, labelled)
    assert len(calls) == 3 and calls[-1].schema == s.shape.schema
    assert evolving(calls[1], 1).strip() in str(calls[-1].messages[1]["content"])
    assert outcome.record == {"text": "pods restart in a loop", "label": "bug"}


@pytest.mark.parametrize(("options", "field"), [
    ({"operations": ["deepen", "widen"]}, "operations"),
    ({"generations": 9}, "generations"),
    ({"generations": 0}, "generations"),
])
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"options\.{field}"):  # the typed spec refuses them, by path
        strategy(**options)


def test_operations_option_limits_the_draws() -> None:
    s = strategy(operations=["breadth", "deepen"], generations=8)
    ops = {e["operation"] for p in range(10) for e in drive(s, evolving, p)[0].source["evolutions"]}
    assert ops == {"breadth", "deepen"}

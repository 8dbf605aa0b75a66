"""The generator's screens: each rule keeps a good record and drops the defect it names."""

from __future__ import annotations

import pytest

from datafoundry.strategies.screens import Screens, is_non_answer, is_unfinished, lcs_length, rouge_l, string_bounds

SEEDS = [
    {"instruction": "What is the difference between a liveness and a readiness probe?",
     "response": "A failing liveness probe restarts the container; a failing readiness probe only removes the pod "
                 "from Service endpoints."},
    {"instruction": "How do I limit the memory a container may use?",
     "response": "Set `resources.limits.memory` in the container spec."},
]
GOOD = {"instruction": "How can I see the logs of a container that crashed and restarted?",
        "response": "Run `kubectl logs <pod> --previous` to print the logs of the container's last terminated run."}
BOUNDS = {"instruction": 720, "response": 720}


def check(record: dict[str, str], finish_reason: str | None = "stop") -> str | None:
    return Screens(SEEDS).check(record, finish_reason=finish_reason, max_chars=BOUNDS)


def test_a_good_record_passes_every_screen() -> None:
    assert check(GOOD) is None


def test_truncated_by_max_tokens_or_by_the_schema_bound() -> None:
    assert check(GOOD, finish_reason="length") == "truncated"
    at_bound = {**GOOD, "response": "x" * 700 + " ends here."}
    assert check(at_bound) is None
    assert Screens(SEEDS).check(at_bound, finish_reason="stop", max_chars={"response": len(at_bound["response"])}) \
        == "truncated"


@pytest.mark.parametrize("answer", [
    "While you can set up a new container to have a",
    "Use a PodDisruptionBudget so that a drain keeps at least two replicas of the",
    "The scheduler looks at requests, not limits,",
])
def test_an_answer_that_stops_mid_sentence_is_unfinished(answer: str) -> None:
    assert is_unfinished(answer)
    assert check({**GOOD, "response": answer}) == "unfinished"


@pytest.mark.parametrize("answer", [
    "Run `kubectl get events --sort-by=.lastTimestamp`.",
    "Yes!",
    "Steps:\n1. Cordon the node\n2. Drain it",
    "Use this:\n```\nkubectl rollout restart deploy/web\n```",
    "- requests decide scheduling\n- limits cap usage",
    "The default is 30",
    "노드를 비우려면 kubectl drain 명령을 사용합니다",
    'He said "restart it"',
])
def test_finished_answers_of_every_shape_are_kept(answer: str) -> None:
    assert not is_unfinished(answer)


@pytest.mark.parametrize("answer", [
    "You can do this by running the following command.",
    "Here is how to do it:",
    "Use the command below.",
    "Follow these steps.",
])
def test_an_answer_that_promises_what_it_does_not_give_is_a_non_answer(answer: str) -> None:
    assert is_non_answer(answer)
    assert check({**GOOD, "response": answer}) == "non_answer"


@pytest.mark.parametrize("answer", [
    "You can do this by running the following command: `kubectl top pod --containers`.",
    "Run the following:\n```\nkubectl get pods -A\n```",
    "A readiness probe gates traffic; a liveness probe restarts the container when it hangs.",
    "For example, a Job with `backoffLimit: 3` is retried three times before it is marked failed, which "
    "bounds how long a crashing batch workload keeps consuming the cluster's resources and pages nobody.",
])
def test_answers_that_deliver_are_not_non_answers(answer: str) -> None:
    assert not is_non_answer(answer)


def test_a_reworded_seed_copies_the_seed() -> None:
    copy = {"instruction": "What is the difference between the liveness and the readiness probe?",
            "response": "A failing liveness probe restarts a container; a failing readiness probe removes the pod "
                        "from the Service endpoints."}
    assert check(copy) == "copies_seed"
    # A new question on the same topic is not a copy.
    related = {"instruction": "Why would a readiness probe fail during a rolling update of a Deployment?",
               "response": "Usually the new version needs longer to warm up than initialDelaySeconds allows."}
    assert check(related) is None


def test_an_answer_given_away_by_the_instruction() -> None:
    record = {"instruction": "Restart a Deployment with kubectl rollout restart deployment/web. How do I restart it?",
              "response": "kubectl rollout restart deployment/web."}
    assert check(record) == "answer_in_prompt"
    assert check(GOOD) is None


def test_the_last_assistant_turn_of_a_dialogue_is_screened() -> None:
    dialogue = {"messages": [{"role": "user", "content": "My pod is Pending."},
                             {"role": "assistant", "content": "Check its events with kubectl describe."},
                             {"role": "user", "content": "It says insufficient cpu."},
                             {"role": "assistant", "content": "Then lower the request or add a"}]}
    assert check(dialogue) == "unfinished"  # type: ignore[arg-type]
    dialogue["messages"][-1]["content"] = "Then lower the request or add a node."
    assert check(dialogue) is None  # type: ignore[arg-type]


def test_rouge_l_and_lcs() -> None:
    a, b = ["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "lay", "on", "the", "mat"]
    assert lcs_length(a, b) == 5
    assert rouge_l(a, b) == pytest.approx(5 / 6)
    assert rouge_l(a, []) == 0.0


def test_string_bounds_reads_top_level_strings() -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 40},
                                               "label": {"type": "string", "enum": ["a"]},
                                               "n": {"type": "integer"}}}
    assert string_bounds(schema) == {"text": 40}


def test_each_screen_can_be_switched_off() -> None:
    cut = {**GOOD, "response": "While you can set up a new container to have a"}
    assert Screens(SEEDS, unfinished=False).check(cut, finish_reason="stop", max_chars=BOUNDS) is None
    assert Screens(SEEDS, truncated=False).check(GOOD, finish_reason="length", max_chars=BOUNDS) is None
    promise = {**GOOD, "response": "Run the following command."}
    assert Screens(SEEDS, non_answer=False).check(promise, finish_reason="stop", max_chars=BOUNDS) is None
    copy = {**GOOD, "instruction": SEEDS[1]["instruction"]}
    assert Screens(SEEDS, seed_novelty=0).check(copy, finish_reason="stop", max_chars=BOUNDS) is None
    assert Screens(SEEDS).check(copy, finish_reason="stop", max_chars=BOUNDS) == "copies_seed"


def test_a_question_that_stops_or_announces_is_unfinished() -> None:
    assert check({**GOOD, "instruction": "Here is an instruction that requires the ability to answer:"}) \
        == "unfinished"
    assert check({**GOOD, "instruction": "How do I see the logs of a container that"}) == "unfinished"


def test_the_spec_sets_the_screens_of_the_generator() -> None:
    from types import SimpleNamespace

    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.strategies.base import Seed
    from datafoundry.workers.generate import screens_for

    def screens(cfg: dict[str, object]) -> Screens | None:
        spec = DataFoundryJobSpec.model_validate({
            "task": {"domain": "ops", "seeds": {"inline": SEEDS}}, "target": {"records": 1},
            "generator": {"model": "m", "screens": cfg}, "output": {"uri": "file:///o"}})
        mix = SimpleNamespace(inputs=SimpleNamespace(seeds=[Seed(f"s{i}", s) for i, s in enumerate(SEEDS)]))
        return screens_for(SimpleNamespace(spec=spec), mix)  # type: ignore[arg-type]

    cut = {**GOOD, "response": "While you can set up a new container to have a"}
    copy = {**GOOD, "instruction": SEEDS[1]["instruction"]}
    default = screens({})
    assert default is not None
    assert default.check(cut, finish_reason="stop", max_chars=BOUNDS) == "unfinished"
    assert default.check(copy, finish_reason="stop", max_chars=BOUNDS) == "copies_seed"
    tuned = screens({"unfinished": False, "seedNovelty": 0})
    assert tuned is not None
    assert tuned.check(cut, finish_reason="stop", max_chars=BOUNDS) is None
    assert tuned.check(copy, finish_reason="stop", max_chars=BOUNDS) is None
    assert screens({"enabled": False}) is None

"""`datafoundry run` serves the model through one local OpenAI-compatible server: what it adds to the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datafoundry.local.runner import add_pre_query_templates


def _spec(*strategies: dict[str, Any]) -> dict[str, Any]:
    return {"task": {"type": "instruction", "domain": "Kubernetes operations", "language": "en"},
            "generator": {"model": "m", "strategies": list(strategies)}}


@pytest.mark.slow  # loads SmolLM2's tokenizer (the model is built once and cached)
def test_magpie_gets_the_pre_query_template_the_in_pod_engine_would_render(smollm2_model: Path) -> None:
    spec = _spec({"name": "selfInstruct"}, {"name": "magpie"},
                 {"name": "magpie", "options": {"systemPrompt": "You answer questions about Helm."}},
                 {"name": "magpie", "options": {"preQueryTemplate": "<|im_start|>user\n"}})
    add_pre_query_templates(spec, smollm2_model)
    default, steered, given = (s["options"]["preQueryTemplate"] for s in spec["generator"]["strategies"][1:])
    assert default.startswith("<|im_start|>system\nYou are an AI assistant that helps users with Kubernetes "
                              "operations.") and default.endswith("<|im_end|>\n<|im_start|>user\n")
    assert steered == "<|im_start|>system\nYou answer questions about Helm.<|im_end|>\n<|im_start|>user\n"
    assert given == "<|im_start|>user\n"  # a template the manifest gives is kept
    assert "options" not in spec["generator"]["strategies"][0]


@pytest.mark.slow  # loads SmolLM2's tokenizer
def test_generated_replay_gets_the_general_assistant_s_template(smollm2_model: Path) -> None:
    spec = {**_spec({"name": "selfInstruct"}), "mix": {"replay": {"generate": {}, "ratio": 0.2}}}
    add_pre_query_templates(spec, smollm2_model)
    assert spec["mix"]["replay"]["generate"]["preQueryTemplate"] == (
        "<|im_start|>system\nYou are a helpful AI assistant. Users write to you in the language with BCP 47 tag "
        "'en'.<|im_end|>\n<|im_start|>user\n")
    steered = {**_spec({"name": "selfInstruct"}),
               "mix": {"replay": {"generate": {"systemPrompt": "You are terse."}, "ratio": 0.2}}}
    add_pre_query_templates(steered, smollm2_model)
    assert steered["mix"]["replay"]["generate"]["preQueryTemplate"] == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n")


def test_a_forgetting_gate_stops_a_local_run_or_warns(caplog: pytest.LogCaptureFixture) -> None:
    from datafoundry.local.runner import RunFailed, _check_gate
    from datafoundry.pipeline.contract import Progress
    from datafoundry.testing import specs

    def spec(action: str) -> Any:
        return specs.make_spec(mix={"replay": {"generate": {}, "ratio": 0.2}}, evaluation={"forgetting": {
            "gate": {"maxGeneralLossIncreasePct": 5, "action": action}}})

    beyond = Progress(stage="evaluate", round=0, shard=0, forgetting={"passed": False}, message="+9.0%, above +5.0%")
    within = Progress(stage="evaluate", round=0, shard=0, forgetting={"passed": True}, message="+1.0%")
    with pytest.raises(RunFailed, match=r"ForgettingLimitExceeded: \+9.0%, above \+5.0%: nothing is published"):
        _check_gate(spec("Fail"), beyond)
    _check_gate(spec("Fail"), within)
    _check_gate(spec("Warn"), beyond)
    assert "ForgettingLimitExceeded: +9.0%, above +5.0% (gate.action Warn: publishing)" in caplog.text

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

"""Real vLLM on CPU with the tiny random Llama: offline ``vllm.LLM`` and the OpenAI server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openai import OpenAI
from vllm_offline_probe import PERSON_SCHEMA

from datafoundry.engines.cpu_dtype import host_cpu_flags, resolve_cpu_dtype
from datafoundry.engines.server import VLLMServer, vllm_cpu_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROBE = Path(__file__).with_name("vllm_offline_probe.py")


# --------------------------------------------------------------------------- offline vllm.LLM


@pytest.fixture(scope="module")
def offline_probe(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    log = tmp_path_factory.mktemp("vllm-offline") / "probe.log"
    with log.open("w") as stderr:
        proc = subprocess.run(
            [sys.executable, str(PROBE), "--model", str(tiny_model)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=vllm_cpu_env(),
            timeout=600,
            check=False,
        )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    assert proc.returncode == 0, f"offline probe failed ({proc.returncode}); stderr tail:\n{tail}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"probe printed no JSON; stdout:\n{proc.stdout[-2000:]}\nstderr tail:\n{tail}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _texts(run: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["text"] for c in r["completions"]] for r in run]


def test_offline_generate_counts_and_tokens(offline_probe: dict[str, Any]) -> None:
    run = offline_probe["run_a"]
    assert len(run) == len(offline_probe["prompts"])
    for r in run:
        assert r["prompt_tokens"] > 0
        assert len(r["completions"]) == offline_probe["n"]
        for c in r["completions"]:
            assert c["text"], c
            assert 0 < c["tokens"] <= offline_probe["max_tokens"]
            assert c["finish_reason"] in {"length", "stop"}


def test_offline_generate_is_deterministic_with_seed(offline_probe: dict[str, Any]) -> None:
    assert _texts(offline_probe["run_a"]) == _texts(offline_probe["run_b"])
    # The seed really drives sampling: another seed gives other text (a random model's
    # distribution is near-uniform over thousands of tokens, so a collision is implausible).
    assert _texts(offline_probe["run_a"]) != _texts(offline_probe["run_other_seed"])
    # n samples of one request differ from each other.
    for texts in _texts(offline_probe["run_a"]):
        assert len(set(texts)) > 1, texts


def test_offline_structured_output_matches_schema(offline_probe: dict[str, Any]) -> None:
    (result,) = offline_probe["structured"]
    assert len(result["completions"]) == 2
    for c in result["completions"]:
        assert c["finish_reason"] == "stop", c
        record = json.loads(c["text"])
        jsonschema.validate(record, offline_probe["schema"])


# --------------------------------------------------------------------------- OpenAI server


@pytest.fixture(scope="module")
def client(vllm_server: VLLMServer) -> OpenAI:
    return OpenAI(base_url=vllm_server.base_url, api_key="EMPTY", timeout=120, max_retries=0)


def test_server_runs_float32_unless_the_cpu_has_native_bfloat16(vllm_server: VLLMServer) -> None:
    # The tiny model's checkpoint is bfloat16: `auto` keeps it only where the CPU computes bfloat16.
    native = resolve_cpu_dtype("auto", host_cpu_flags()) == "auto"
    log = vllm_server.log_path.read_text(errors="replace")
    assert f"dtype=torch.{'bfloat16' if native else 'float32'}" in log, log[-2000:]


def test_server_runs_eager_on_a_cpu_unless_asked_to_compile(vllm_server: VLLMServer) -> None:
    # generator.enforceEager unset: eager on a CPU, where torch.compile costs a minute at every start.
    assert "enforce_eager=True" in vllm_server.log_path.read_text(errors="replace")


def test_server_lists_model(client: OpenAI, vllm_server: VLLMServer) -> None:
    assert vllm_server.model in [m.id for m in client.models.list().data]


def test_server_chat_completion(client: OpenAI, vllm_server: VLLMServer) -> None:
    resp = client.chat.completions.create(
        model=vllm_server.model,
        messages=[
            {"role": "system", "content": "You write training data."},
            {"role": "user", "content": "Write one question about Kubernetes."},
        ],
        max_tokens=16,
        temperature=1.0,
        seed=7,
        extra_body={"min_tokens": 2},
    )
    assert resp.choices, resp
    assert resp.choices[0].message.content
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0
    assert 0 < resp.usage.completion_tokens <= 16


def test_server_completion(client: OpenAI, vllm_server: VLLMServer) -> None:
    resp = client.completions.create(
        model=vllm_server.model,
        prompt="The operator reconciles",
        max_tokens=16,
        n=2,
        temperature=1.0,
        seed=7,
        extra_body={"min_tokens": 2},
    )
    assert len(resp.choices) == 2
    assert all(choice.text for choice in resp.choices)
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0
    assert 0 < resp.usage.completion_tokens <= 32


def test_server_completion_seed_is_deterministic(client: OpenAI, vllm_server: VLLMServer) -> None:
    def sample(seed: int) -> str:
        resp = client.completions.create(
            model=vllm_server.model, prompt="Data Foundry", max_tokens=12, temperature=1.0, seed=seed
        )
        return resp.choices[0].text

    assert sample(11) == sample(11)
    assert sample(11) != sample(12)


def _check_structured(content: str | None) -> None:
    assert content, "empty structured output"
    record = json.loads(content)
    jsonschema.validate(record, PERSON_SCHEMA)


def test_server_structured_output_response_format(client: OpenAI, vllm_server: VLLMServer) -> None:
    resp = client.chat.completions.create(
        model=vllm_server.model,
        messages=[{"role": "user", "content": "Return a person as JSON."}],
        max_tokens=200,
        temperature=1.0,
        seed=3,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
    )
    assert resp.choices[0].finish_reason == "stop", resp
    _check_structured(resp.choices[0].message.content)


def test_server_structured_output_extra_body(client: OpenAI, vllm_server: VLLMServer) -> None:
    resp = client.completions.create(
        model=vllm_server.model,
        prompt="Return a person as JSON:",
        max_tokens=200,
        temperature=1.0,
        seed=4,
        extra_body={"structured_outputs": {"json": PERSON_SCHEMA}},
    )
    assert resp.choices[0].finish_reason == "stop", resp
    _check_structured(resp.choices[0].text)

"""Offline vLLM probe: load the model with ``vllm.LLM`` on CPU, generate, print JSON results.

Run as a script (vLLM spawns worker processes, which re-import ``__main__``):

    VLLM_CPU_KVCACHE_SPACE=1 python tests/integration/vllm_offline_probe.py --model DIR

Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

PROMPTS = ["The operator reconciles", "Question: What is the capital of France? Answer:"]
N = 3
MAX_TOKENS = 12
SEED = 1234

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        # A pattern, not just maxLength: xgrammar lets raw control characters (e.g. \x1b) into
        # unconstrained JSON strings, which strict JSON parsers reject.
        "name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z ]{0,11}$"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"type": "string", "enum": ["admin", "user", "guest"]},
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "role", "active"],
    "additionalProperties": False,
}


def _outputs(results: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "prompt_tokens": len(r.prompt_token_ids or []),
            "completions": [
                {"text": c.text, "tokens": len(c.token_ids), "finish_reason": c.finish_reason} for c in r.outputs
            ],
        }
        for r in results
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    args = parser.parse_args()

    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from datafoundry.engines.cpu_dtype import host_cpu_flags, resolve_cpu_dtype

    t0 = time.monotonic()
    # Whitespace control is an engine option: StructuredOutputsParams.disable_any_whitespace
    # is accepted per request but ignored by the xgrammar/guidance backends in vLLM 0.32.
    llm = LLM(
        model=args.model,
        dtype=resolve_cpu_dtype("auto", host_cpu_flags()),  # float32 on a CPU without native bfloat16
        max_model_len=2048,
        seed=0,
        structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
    )
    load_s = time.monotonic() - t0

    def sampling(seed: int) -> SamplingParams:
        return SamplingParams(n=N, temperature=1.0, top_p=1.0, max_tokens=MAX_TOKENS, min_tokens=2, seed=seed)

    t1 = time.monotonic()
    run_a = _outputs(llm.generate(PROMPTS, sampling(SEED), use_tqdm=False))
    generate_s = time.monotonic() - t1
    run_b = _outputs(llm.generate(PROMPTS, sampling(SEED), use_tqdm=False))
    run_other_seed = _outputs(llm.generate(PROMPTS, sampling(SEED + 1), use_tqdm=False))

    structured_params = SamplingParams(
        n=2,
        temperature=1.0,
        max_tokens=200,
        seed=SEED,
        structured_outputs=StructuredOutputsParams(json=PERSON_SCHEMA),
    )
    t2 = time.monotonic()
    structured = _outputs(llm.generate(["Return a person as JSON:"], structured_params, use_tqdm=False))
    structured_s = time.monotonic() - t2

    result = {
        "load_seconds": load_s,
        "generate_seconds": generate_s,
        "structured_seconds": structured_s,
        "n": N,
        "max_tokens": MAX_TOKENS,
        "prompts": PROMPTS,
        "run_a": run_a,
        "run_b": run_b,
        "run_other_seed": run_other_seed,
        "schema": PERSON_SCHEMA,
        "structured": structured,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

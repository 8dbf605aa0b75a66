"""The models the tests run: SmolLM2-135M-Instruct, a real instruct model, for anything about text;
a tiny random Llama where only mechanics and speed matter. Each is built once by its hack/ script
and cached; tests/fixtures/models.py serves each from one shared vLLM server per session.

Environment knobs:
- ``DATAFOUNDRY_CACHE``: cache root for the models (default ``~/.cache/datafoundry``).
- ``DATAFOUNDRY_VLLM_STARTUP_TIMEOUT``: seconds to wait for a server's /health (default 600).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from datafoundry.engines.server import vllm_cpu_env
from datafoundry.testing.testbed import REPO

MAKE_TINY_MODEL = REPO / "hack" / "make-tiny-model.py"
MAKE_SMOLLM2_MODEL = REPO / "hack" / "make-smollm2-model.py"
SERVED_MODEL_NAME = "tiny-llama"
SMOLLM2_SERVED_NAME = "SmolLM2-135M-Instruct"
MAX_MODEL_LEN = 2048


def _built_model(script: Path, timeout: float) -> Path:
    """Run a hack/make-*-model.py script (a no-op when its cached model is complete); return its dir."""
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=vllm_cpu_env(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{script} failed with exit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{script} printed no model directory; stderr:\n{proc.stderr[-4000:]}")
    path = Path(lines[-1].strip())
    if not (path / "config.json").is_file():
        raise RuntimeError(f"{script} printed {path}, which has no config.json")
    return path


def make_tiny_model(timeout: float = 900) -> Path:
    """Directory of the tiny random Llama (created once and cached outside the repo)."""
    return _built_model(MAKE_TINY_MODEL, timeout)


def make_smollm2_model(timeout: float = 1200) -> Path:
    """Directory of SmolLM2-135M-Instruct converted from PyPI's GGUF (built once, cached)."""
    return _built_model(MAKE_SMOLLM2_MODEL, timeout)

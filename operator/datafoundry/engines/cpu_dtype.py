"""vLLM's dtype on a CPU: bfloat16 only where the CPU computes it natively.

`dtype: auto` means the checkpoint's dtype, bfloat16 for most instruct models. On a CPU without
bfloat16 instructions (AVX2-only x86: most AMD EPYC before Zen 4, Intel before Cooper Lake) vLLM
emulates bfloat16 and float32 is about twice as fast: SmolLM2-135M-Instruct on 2 AVX2 cores,
8 prompts x 128 tokens, generated 56.6 tokens/s in float32 against 29.7 in bfloat16, and loaded
in 119 s against 191 s. So on such a CPU `auto` becomes float32; an explicit dtype is kept.
"""

from __future__ import annotations

from pathlib import Path

AUTO = "auto"
FLOAT32 = "float32"
#: x86 AVX512-BF16 and AMX-BF16 (/proc/cpuinfo "flags"), Arm's BF16 extension ("Features").
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The instruction-set flags of the first processor in /proc/cpuinfo text (x86 or Arm)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def resolve_cpu_dtype(requested: str, flags: frozenset[str]) -> str:
    """The dtype to hand vLLM on a CPU with these flags (see the module docstring)."""
    if requested != AUTO or flags & NATIVE_BF16_FLAGS:
        return requested
    return FLOAT32


def host_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """This machine's flags; none where /proc/cpuinfo cannot be read (then `auto` means float32)."""
    try:
        return cpu_flags(cpuinfo.read_text(errors="replace"))
    except OSError:
        return frozenset()

"""`dtype: auto` on a CPU: float32 unless the CPU computes bfloat16 natively; explicit dtypes kept."""

from pathlib import Path

import pytest

from datafoundry.engines.cpu_dtype import cpu_flags, host_cpu_flags, resolve_cpu_dtype

# Abridged /proc/cpuinfo of real machines: this project's AVX2-only AMD EPYC, a Sapphire Rapids Xeon
# (AVX512-BF16 and AMX) and an Arm Neoverse V1 (BF16 in "Features").
EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni vaes vpclmulqdq
processor\t: 1
flags\t\t: fpu avx2
"""
XEON_SPR = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
NEOVERSE_V1 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid sve bf16 i8mm
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(("cpuinfo", "auto_becomes"), [
    (EPYC_AVX2, "float32"),
    (XEON_SPR, "auto"),
    (NEOVERSE_V1, "auto"),
    ("", "float32"),  # flags unknown: float32 runs everywhere
])
def test_auto_is_float32_only_without_native_bfloat16(cpuinfo: str, auto_becomes: str) -> None:
    assert resolve_cpu_dtype("auto", cpu_flags(cpuinfo)) == auto_becomes


@pytest.mark.parametrize("explicit", ["bfloat16", "float16", "float32"])
def test_an_explicit_dtype_is_kept(explicit: str) -> None:
    assert resolve_cpu_dtype(explicit, cpu_flags(EPYC_AVX2)) == explicit
    assert resolve_cpu_dtype(explicit, cpu_flags(XEON_SPR)) == explicit


def test_flags_of_the_first_processor_are_read() -> None:
    flags = cpu_flags(EPYC_AVX2)
    assert {"avx2", "sha_ni", "fma"} <= flags and "avx512_bf16" not in flags
    assert "bf16" in cpu_flags(NEOVERSE_V1)


def test_an_unreadable_cpuinfo_gives_no_flags(tmp_path: Path) -> None:
    assert host_cpu_flags(tmp_path / "missing") == frozenset()
    (tmp_path / "cpuinfo").write_text(XEON_SPR)
    assert "amx_bf16" in host_cpu_flags(tmp_path / "cpuinfo")

"""What this CPU can multiply natively: the one detection that serving, training, tests and benchmarks share.

Machines of the same kind differ: some have AVX-512 BF16 or AMX (a bf16 matmul ~4x fp32), some
only AVX2, where torch emulates bf16 many times slower and oneDNN may refuse a bf16 inner product
outright at the first forward pass. Everything that would compute in bf16 asks here first, so an
unsupported request fails at start with a reason instead of deep inside a library.
"""

from __future__ import annotations

import functools
import platform
import re

from bloomwatch.errors import ExpectedError

CPUINFO = "/proc/cpuinfo"
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # either one: bf16 dot products in hardware
REPORTED_FLAG = re.compile(r"avx512\w*|amx\w*|avx_vnni\w*|avx2")  # what a benchmark records beside a timing


class NoNativeBf16(ExpectedError, RuntimeError):
    """bf16 was asked for explicitly on a CPU that cannot compute it natively."""


@functools.cache
def _cpuinfo() -> str:
    try:
        with open(CPUINFO, encoding="ascii", errors="ignore") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_flags() -> frozenset[str]:
    """The first processor's feature flags (empty where /proc/cpuinfo is unreadable)."""
    match = re.search(r"^flags\s*:(.*)$", _cpuinfo(), re.MULTILINE)
    return frozenset(match.group(1).split()) if match else frozenset()


def cpu_model() -> str:
    match = re.search(r"^model name\s*:\s*(.*)$", _cpuinfo(), re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def reported_flags() -> str:
    """The vector-unit flags that decide a timing (AVX2, AVX-512, VNNI, AMX), sorted, space-separated."""
    return " ".join(sorted(flag for flag in cpu_flags() if REPORTED_FLAG.fullmatch(flag)))


def has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def require_native_bf16(remedy: str) -> None:
    """Raise NoNativeBf16 with a one-line reason naming the missing feature and the `remedy` (what to change)."""
    if not has_native_bf16():
        raise NoNativeBf16(
            f"bf16 needs a CPU with {' or '.join(NATIVE_BF16_FLAGS)}, and this one ({cpu_model()}) has neither: {remedy}"
        )

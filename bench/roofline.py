"""The two sides of a roofline for the serving benchmark: what this CPU's matmuls reach, and how
many FLOPs a BLOOM classifier needs per document.

Peak: torch matmuls of 256 x n by n x n (the shape of a batch of tokens through a layer) at a
few n, best of them, per dtype and thread count; the same kernels the models' Linear layers use.
The peak is a ceiling, so the benchmark measures it with nothing else of its own running (before
its servers start); beside them it read a quarter of that.
Model FLOPs: the multiply-adds a forward pass needs for a document's real tokens (padding is
waste, not work): per token and layer 2 x 12 h^2 for the QKV, output and 4h MLP projections,
plus 2 x 2 x n x h for attention scores and their weighted sum over the document's n tokens.
The embedding lookup and the classification head (h x labels on one token) are left out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch

MATMUL_SIZES = (192, 384, 768, 1024)


def matmul_gflops(dtype: torch.dtype, threads: int, n: int, m: int = 256, seconds: float = 0.5) -> float:
    """GFLOP/s of m x n by n x n matmuls repeated for `seconds` (after a warm-up) on `threads`."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(m, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        for _ in range(3):
            a @ b
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            a @ b
            calls += 1
        return 2 * m * n * n * calls / elapsed / 1e9
    finally:
        torch.set_num_threads(before)


def fastest_matmul_size(dtype: torch.dtype, threads: int) -> tuple[int, float]:
    """(n, GFLOP/s) of the best of MATMUL_SIZES: where the ceiling an engine is measured against lies."""
    return max(((n, matmul_gflops(dtype, threads, n)) for n in MATMUL_SIZES), key=lambda pair: pair[1])


def bloom_forward_flops(config: dict, token_counts: Iterable[int]) -> float:
    """FLOPs of forward passes over documents of `token_counts` real tokens (config: config.json)."""
    hidden, layers = config["hidden_size"], config["n_layer"]
    return float(sum(layers * (24 * hidden * hidden * n + 4 * n * n * hidden) for n in token_counts))

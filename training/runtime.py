"""Device, precision, seeding and optimiser set-up shared by pre-training and fine-tuning."""

from __future__ import annotations

import contextlib
import os
import random
import time

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from bloomwatch.cpu import has_native_bf16, require_native_bf16


def configure_threads() -> int:
    """Intra-op threads: BLOOMWATCH_TORCH_THREADS, else the cores not already busy (at least one).

    On a shared 2-core machine with other work running, two threads that wait on each other at
    every operation measured half the speed of one (1.24 s vs 2.64 s per pre-training step).
    """
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    threads = int(os.environ.get("BLOOMWATCH_TORCH_THREADS", max(1, min(cores, round(cores - busy)))))
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device, precision: str):
    """bf16 mixed precision where `default_precision` chose it (a bf16 GPU, or a CPU with native bf16).

    On a CPU without native bf16 oneDNN may refuse a bf16 matmul, or emulate it many times slower
    than fp32 (bench/RESULTS.md, "Which CPU"): refused here, with the reason, before the first step."""
    if precision != "bf16":
        return contextlib.nullcontext()
    if device.type == "cpu":
        require_native_bf16("train in fp32 (training.runtime.default_precision picks it on this CPU)")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def default_precision(device: torch.device) -> str:
    """bf16 where the GPU or CPU supports it natively, else fp32.

    fp16 is deliberately not offered: it needs dynamic loss scaling (GradScaler) through both
    the clean and the FGM backward pass, and every GPU with bf16 (Ampere and later) does better
    without it; older GPUs train in fp32.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if device.type == "cpu" and has_native_bf16():
        return "bf16"
    return "fp32"


def adamw_with_schedule(
    model: torch.nn.Module, *, lr: float, weight_decay: float, warmup_steps: int, total_steps: int,
    anneal_within_s: float | None = None,
):  # fmt: skip
    """AdamW with weight decay on matrices only (not biases / LayerNorm), linear warm-up then decay.

    With `anneal_within_s` (a run that a wall-clock budget may stop early, keeping its best
    checkpoint) the decay follows whichever runs out first, the steps or the time, so a cut run
    still ends annealed at a learning rate near zero rather than stopped mid-schedule. The
    learning rates then depend on the machine's speed: an opt-in of a recipe, not a default."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    if anneal_within_s is None:
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup_steps, max(total_steps, warmup_steps + 1))
    started = time.monotonic()

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 1.0 - max(progress, (time.monotonic() - started) / anneal_within_s))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

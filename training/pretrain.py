"""Self-supervised causal-LM pre-training of a from-scratch BLOOM on unlabelled text.

Labelled sets here are a few thousand sentences; learning the language of the domain first (next
token prediction on a large unlabelled corpus) gives the classifier embeddings and attention
patterns that fine-tuning alone cannot learn from so few labels. It is also the one lever a
TF-IDF baseline cannot use.

A long run must survive a kill: `pretrain` writes a checkpoint (weights, optimiser, scheduler,
step, loss curve) every `checkpoint_every_s` seconds and when it stops, and resumes from it. The
batch order is a pure function of (seed, epoch), so a resumed run sees exactly the blocks the
uninterrupted run would have seen and its loss curve continues where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import BloomForCausalLM, PreTrainedTokenizerBase

from bloomwatch.atomic_write import write_atomically
from bloomwatch.progress import progress_bar
from training.runtime import adamw_with_schedule, autocast, default_precision, pick_device

CHECKPOINT = "checkpoint.pt"


@dataclass
class PretrainConfig:
    steps: int = 1000
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 13
    time_limit_s: float | None = None  # stop (checkpointed, resumable) when reached
    checkpoint_every_s: float = 300.0
    snapshot_steps: list[int] = field(default_factory=list)  # also keep the model at these steps


@dataclass
class PretrainResult:
    losses: list[float]
    steps_done: int
    complete: bool
    seconds: float  # wall-clock of this run and every run it resumed
    tokens_per_s: float  # of this run alone


def pack_texts(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> torch.Tensor:
    """Concatenate texts separated by `</s>` and cut into full-length blocks: no padding compute wasted."""
    ids: list[int] = []
    for start in range(0, len(texts), 10_000):
        for encoded in tokenizer(list(texts[start : start + 10_000]), add_special_tokens=False)["input_ids"]:
            ids.extend(encoded)
            ids.append(tokenizer.eos_token_id)
    blocks = len(ids) // seq_len
    if blocks == 0:
        raise ValueError(f"pre-training corpus has {len(ids)} tokens, fewer than one block of {seq_len}")
    return torch.tensor(ids[: blocks * seq_len], dtype=torch.int32).view(blocks, seq_len)


def _epoch_order(n_blocks: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n_blocks, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def pretrain(
    model: BloomForCausalLM,
    blocks: torch.Tensor,
    config: PretrainConfig,
    *,
    run_dir: Path | None = None,
    device: str | None = None,
    progress: bool = True,
) -> PretrainResult:
    """Train `model` in place on `blocks` up to `config.steps` steps, resuming from `run_dir`'s checkpoint."""
    dev = pick_device(device)
    precision = default_precision(dev)
    model.to(dev).train()  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps, which mypy does not bind
    optimizer, scheduler = adamw_with_schedule(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * config.steps),
        total_steps=config.steps,
    )
    losses: list[float] = []
    step, seconds_before = 0, 0.0
    checkpoint = run_dir / CHECKPOINT if run_dir else None
    if checkpoint and checkpoint.exists():
        state = torch.load(
            checkpoint, weights_only=True
        )  # tensors and plain values only: a planted pickle runs no code
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        losses, step, seconds_before = state["losses"], state["step"], state["seconds"]

    def save_checkpoint() -> None:
        if checkpoint is None:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "losses": losses,
            "step": step,
            "seconds": seconds_before + time.monotonic() - started,
        }
        write_atomically(checkpoint, lambda tmp: torch.save(state, tmp))

    started = last_saved = time.monotonic()
    start_step = step
    n_blocks = len(blocks)
    batch_size = min(config.batch_size, n_blocks)  # a tiny corpus (the built-in demo one) is one batch
    per_epoch = n_blocks // batch_size
    tokens_per_step = batch_size * config.seq_len
    bar = progress_bar(
        total=config.steps, desc="pre-training (causal LM)", unit="step", disable=not progress, every_s=30.0
    )
    bar.update(step)  # a resumed run starts where its checkpoint stopped
    epoch, order = -1, None
    while step < config.steps:
        if config.time_limit_s is not None and time.monotonic() - started > config.time_limit_s:
            break
        if order is None or step // per_epoch != epoch:
            epoch = step // per_epoch
            order = _epoch_order(n_blocks, config.seed, epoch)
        cursor = (step % per_epoch) * batch_size
        batch = blocks[order[cursor : cursor + batch_size]].long().to(dev)
        with autocast(dev, precision):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        step += 1
        elapsed = time.monotonic() - started
        bar.set_postfix(
            loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}",
            tok_s=f"{(step - start_step) * tokens_per_step / elapsed:.0f}",
            refresh=False,
        )
        bar.update(1)
        if step in config.snapshot_steps and run_dir:
            model.save_pretrained(run_dir / "snapshots" / f"step-{step}", safe_serialization=True)
        if time.monotonic() - last_saved > config.checkpoint_every_s:
            save_checkpoint()
            last_saved = time.monotonic()
    bar.close()
    save_checkpoint()
    model.eval()
    run_s = time.monotonic() - started
    return PretrainResult(
        losses=losses,
        steps_done=step,
        complete=step >= config.steps,
        seconds=seconds_before + run_s,
        tokens_per_s=(step - start_step) * tokens_per_step / run_s if run_s > 0 else 0.0,
    )


@torch.no_grad()
def perplexity(
    model: BloomForCausalLM, blocks: torch.Tensor, *, batch_size: int = 32, device: str | None = None
) -> float:
    """exp(mean next-token loss) over held-out blocks: how well the base predicts unseen domain text."""
    dev = pick_device(device)
    model.to(dev).eval()  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps, which mypy does not bind
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].long().to(dev)
        loss = model(input_ids=batch, labels=batch).loss
        total += loss.item() * len(batch)
        count += len(batch)
    return math.exp(total / max(count, 1))

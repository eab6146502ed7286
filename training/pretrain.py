"""Self-supervised causal-LM pre-training of a from-scratch BLOOM on unlabelled text.

Labelled sets here are a few thousand sentences; learning the language of the domain first (next
token prediction on every training text plus any extra corpus) gives the classifier embeddings
and attention patterns that fine-tuning alone cannot learn from so few labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import BloomForCausalLM, PreTrainedTokenizerBase

from bloomwatch.progress import progress_bar
from training.runtime import adamw_with_schedule, autocast, default_precision, pick_device


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


def pack_texts(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> torch.Tensor:
    """Concatenate texts separated by `</s>` and cut into full-length blocks: no padding compute wasted."""
    ids: list[int] = []
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(tokenizer.eos_token_id)
    blocks = len(ids) // seq_len
    if blocks == 0:
        raise ValueError(f"pre-training corpus has {len(ids)} tokens, fewer than one block of {seq_len}")
    return torch.tensor(ids[: blocks * seq_len]).view(blocks, seq_len)


def pretrain(
    model: BloomForCausalLM,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    config: PretrainConfig,
    *,
    device: str | None = None,
    progress: bool = True,
) -> list[float]:
    """Train `model` in place for `config.steps` steps; returns the per-step loss."""
    dev = pick_device(device)
    precision = default_precision(dev)
    blocks = pack_texts(texts, tokenizer, config.seq_len)
    generator = torch.Generator().manual_seed(config.seed)
    model.to(dev).train()
    optimizer, scheduler = adamw_with_schedule(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * config.steps),
        total_steps=config.steps,
    )
    losses: list[float] = []
    order = torch.randperm(len(blocks), generator=generator)
    cursor = 0
    bar = progress_bar(range(config.steps), desc="pre-training (causal LM)", disable=not progress, unit="step")
    for _ in bar:
        if cursor + config.batch_size > len(order):
            order, cursor = torch.randperm(len(blocks), generator=generator), 0
        batch = blocks[order[cursor : cursor + config.batch_size]].to(dev)
        cursor += config.batch_size
        with autocast(dev, precision):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    return losses

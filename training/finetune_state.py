"""A fine-tuning run's state on disk, so that a run its time budget stops (or a killed one)
continues where it was instead of starting again.

One file, written atomically at every validation: the weights, the optimizer and schedule, both
random generators (the batch shuffler's state as of the epoch's start, so the resumed epoch draws
the same batches and skips those already trained), the best checkpoint so far and the history.
It is read with `weights_only=True`: a planted file runs no code. A checkpoint carries the
signature of its run (recipe and data); a different run refuses it rather than mixing the two.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from bloomwatch.atomic_write import write_atomically
from bloomwatch.errors import ExpectedError

CHECKPOINT = "finetune.pt"
# settings that may change between a run and its continuation: how long each sitting lasts
PER_SITTING = ("time_limit_s", "anneal_to_time_limit", "checkpoint_dir")


class CheckpointMismatch(ExpectedError):
    """The directory holds another run's checkpoint."""


def run_signature(
    config: dict,
    train: list[tuple[str, str]],
    val: list[tuple[str, str]],
    soft: Sequence[tuple[str, tuple[float, ...]]] = (),
) -> str:
    """Hash of the recipe (less its per-sitting settings) and of the training and validation data,
    in order, with the soft-labelled examples and their teacher distributions when there are any
    (another teacher or sample is another run)."""
    digest = hashlib.sha256(
        json.dumps({k: v for k, v in config.items() if k not in PER_SITTING}, sort_keys=True, default=str).encode()
    )
    for part in (train, val):
        for text, label in part:
            digest.update(f"{label}\t{text}\n".encode())
        digest.update(b"\x00")
    for text, probs in soft:
        digest.update(f"{','.join(f'{p:.6f}' for p in probs)}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def save(directory: str | Path, state: dict) -> None:
    write_atomically(Path(directory) / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load(directory: str | Path, signature: str) -> dict | None:
    """The saved state of the run with this signature; None when the directory holds none."""
    path = Path(directory) / CHECKPOINT
    if not path.exists():
        return None
    state = torch.load(path, weights_only=True)
    if state.get("signature") != signature:
        raise CheckpointMismatch(
            f"{path} is the checkpoint of another run (other recipe or data: signature {state.get('signature')}, "
            f"this run {signature}); remove it or choose another checkpoint directory"
        )
    return state


def numpy_state(rng) -> str:
    """The generator's state as JSON (its 128-bit integers are plain text, loadable with weights_only)."""
    return json.dumps(rng.bit_generator.state)


def restore_numpy_state(rng, saved: str) -> None:
    rng.bit_generator.state = json.loads(saved)

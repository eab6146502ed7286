"""Default recipe per task for `bloomwatch train`: sized to finish within 30 minutes on 2 CPU cores.

The figures behind these choices (and what was tried) are in bench/RESULTS.md, "## Training".
Sentiment has ~14k training sentences, topic ~6k longer ones, so sentiment gets fewer epochs
over more steps per epoch. A wall-clock budget guards the 30 minutes on a busy machine:
fine-tuning stops early, keeping the best validation checkpoint, if the budget runs out.
"""

from __future__ import annotations

from training.finetune import FinetuneConfig
from training.pipeline import TrainOptions
from training.pretrain import PretrainConfig

_EPOCHS = {"sentiment": 4, "topic": 6}


def default_options(task: str, preset: str = "compact") -> TrainOptions:
    return TrainOptions(
        task=task,
        preset=preset,
        time_budget_min=28.0,
        pretrain=PretrainConfig(steps=500, seq_len=64, batch_size=32, lr=2e-3),
        finetune=FinetuneConfig(
            method="full", epochs=_EPOCHS.get(task, 4), batch_size=32, lr=4e-4, max_len=96, patience=3, evals_per_epoch=2
        ),
    )

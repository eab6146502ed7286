"""One retraining run: labels in, a LoRA candidate out, gated, recorded.

The candidate starts from the current model (LoRA on every linear layer and the word embeddings,
merged for serving) and trains on the new labels plus a replay sample of the current model's own
training data, so it learns the new vocabulary without forgetting the old. It is evaluated by
`bloomwatch train`'s pipeline (training.pipeline.train_task, given the splits in memory) on the
current model's fixed test splits and on a held-out slice of the new labels; the gate (gate.py)
decides. Every run ends in exactly one `model_versions` row: promoted, rejected, skipped or
failed, with the reason.
One run at a time per model registry (its versions and `current` are what a run changes): an
exclusive file lock in the registry directory, released by the OS if the process dies; in server
mode the registry is a volume shared by containers, so the lock is shared with it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bloomwatch.settings import Settings
from training.data import Example
from training.finetune import FinetuneConfig
from training.pipeline import Splits, TrainOptions, load_splits, train_task
from training.registry import ModelVersion, Registry
from training.retrain.gate import HOLDOUT, decide
from training.retrain.source import RetrainSource

log = logging.getLogger(__name__)

LOCK_FILE = "retrain.lock"
TRAINED = ("promoted", "rejected")  # decisions that consumed the labels they counted
_VAL_SHARE = 0.125  # of the non-holdout labels: early stopping must see the new vocabulary too
_MAX_REPLAY_VAL = 200
# the current model's training options that say where its data came from (its fixed test splits)
_DATA_FIELDS = ("preset", "data_file", "text_field", "label_field", "skip_invalid", "fast", "seed")


@contextmanager
def retrain_lock(directory: Path) -> Iterator[bool]:
    """Yields False at once if another retraining run holds the lock."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _bucket(document_id: str) -> float:
    """A stable position in [0, 1) per document: a label stays in its slice across runs."""
    return int(hashlib.sha256(document_id.encode()).hexdigest()[:8], 16) / 16**8


def is_holdout(document_id: str, share: float) -> bool:
    return _bucket(document_id) < share


def labels_since_last_run(labels_total: int, decisions: list[dict[str, Any]]) -> int:
    last = next((d for d in decisions if d["decision"] in TRAINED), None)
    return labels_total - (last["labels_total"] if last else 0)


def parent_options(current: ModelVersion) -> TrainOptions:
    """The current model's data options, so replay and fixed tests come from its own data."""
    config = current.manifest.get("training_config")
    if not config:
        raise ValueError(f"{current.name} has no training_config in its manifest: its fixed test splits are unknown")
    known = {f.name for f in fields(TrainOptions)}
    options = TrainOptions(**{k: config[k] for k in _DATA_FIELDS if k in config and k in known}, task=current.task)
    if options.data_file:
        options.data_file = Path(options.data_file)
    options.finetune = FinetuneConfig(**{k: v for k, v in config.get("finetune", {}).items() if k in FinetuneConfig.__dataclass_fields__})
    return options


def build_splits(
    labels: list[dict[str, Any]], original: Splits, settings: Settings, seed: int
) -> tuple[Splits, dict[str, int]]:
    """New labels (train / val / holdout by id hash) + replay of the original train and val."""
    rng = random.Random(seed)
    holdout, val, train = [], [], []
    for label in labels:
        if is_holdout(label["document_id"], settings.retrain_holdout_share):
            holdout.append(Example(label["text"], label["label"], HOLDOUT))
        elif _bucket(label["document_id"] + "#val") < _VAL_SHARE:
            val.append(Example(label["text"], label["label"], HOLDOUT))
        else:
            train.append(Example(label["text"], label["label"], HOLDOUT))
    replay_n = min(len(original.train), round(settings.retrain_replay_ratio * len(train)))
    replay = rng.sample(original.train, replay_n)
    replay_val = rng.sample(original.val, min(len(original.val), _MAX_REPLAY_VAL))
    splits = Splits(
        train=train + replay,
        val=val + replay_val,
        test=original.test + holdout,
        origin=f"retrain: {len(train)} new labels + {replay_n} replayed from {original.origin}",
        reports=original.reports,
    )
    counts = {"labels_train": len(train), "labels_holdout": len(holdout), "replay_examples": replay_n}
    return splits, counts


def retrain_options(parent: TrainOptions, current: ModelVersion, settings: Settings) -> TrainOptions:
    options = parent
    options.base = str(current.path)
    options.method = "lora"
    options.baseline = False
    options.promote = False  # the gate decides
    options.time_budget_min = settings.retrain_time_budget_min
    options.finetune.method = "lora"
    # new labels are mostly new words (slang, product names): with the embeddings frozen the tiny
    # test model's holdout went 0.26 -> 0.36, with them adapted 0.26 -> 0.98 (tests/retrain_support.py)
    options.finetune.lora_embeddings = True
    options.finetune.epochs = settings.retrain_epochs
    options.finetune.lr = settings.retrain_lr
    options.finetune.patience = 2 * options.finetune.evals_per_epoch  # two epochs without a better val
    options.finetune.max_steps = None
    options.finetune.time_limit_s = None
    options.finetune.anneal_to_time_limit = False  # a retrain's outcome must not depend on how busy the machine is
    return options


def rollback_row(task: str, *, undone: str, restored: str) -> dict[str, Any]:
    """The audit row of `bloomwatch models rollback`."""
    now = datetime.now(UTC).isoformat()
    return {
        "run_id": uuid.uuid4().hex, "task": task, "version": restored, "parent": undone, "trigger": "rollback",
        "decision": "rolled_back", "reason": f"{undone} rolled back to {restored}", "labels_total": 0,
        "labels_train": 0, "labels_holdout": 0, "replay_examples": 0, "metrics": {}, "started_at": now, "finished_at": now,
    }  # fmt: skip


def run_retrain(
    task: str, trigger: str, *, settings: Settings, source: RetrainSource, registry: Registry, detail: str = ""
) -> dict[str, Any] | None:
    """One run under the lock; returns its `model_versions` row, or None if another run holds the lock."""
    with retrain_lock(settings.registry_dir) as held:
        if not held:
            log.warning("retrain %s (%s): another retraining run holds %s; not starting", task, trigger, settings.registry_dir / LOCK_FILE)
            return None
        return _run(task, trigger, settings=settings, source=source, registry=registry, detail=detail)


def _run(task: str, trigger: str, *, settings: Settings, source: RetrainSource, registry: Registry, detail: str) -> dict[str, Any]:
    started = time.time()
    current = registry.current(task)
    row: dict[str, Any] = {
        "run_id": uuid.uuid4().hex, "task": task, "version": "", "parent": current.version if current else "",
        "trigger": trigger, "decision": "failed", "reason": "", "labels_total": 0, "labels_train": 0,
        "labels_holdout": 0, "replay_examples": 0, "metrics": {"trigger_detail": detail},
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
    }  # fmt: skip
    log.info("retrain %s: trigger %s %s; current model %s", task, trigger, detail, current.name if current else None)
    try:
        if current is None:
            raise ValueError(f"no current {task} model in {registry.root} to retrain")
        all_labels = source.labels(task)
        labels = [label for label in all_labels if label["text"]]
        row["labels_total"] = len(labels)
        if len(all_labels) > len(labels):
            row["metrics"]["labels_without_text"] = len(all_labels) - len(labels)
        new = labels_since_last_run(len(labels), source.decisions(task))
        if not labels or (trigger != "manual" and new <= 0):
            row["decision"] = "skipped"
            row["reason"] = f"no new labels since the last run ({len(labels)} in all); `bloomwatch label queue` lists what to label"
            return row
        parent = parent_options(current)
        splits, counts = build_splits(labels, load_splits(parent, settings.data_dir), settings, parent.seed)
        row.update(counts)
        options = retrain_options(parent, current, settings)
        candidate = train_task(options=options, registry=registry, data_dir=settings.data_dir, home=settings.home, splits=splits)
        gate = decide(candidate.metrics["before_finetuning"], candidate.metrics["test"], settings.retrain_gate_margin)
        row.update(version=candidate.version, reason=gate.reason, decision="promoted" if gate.promote else "rejected")
        row["metrics"].update(
            fixed={
                s: {"before": m["acc"], "after": candidate.metrics["test"][s]["acc"]}
                for s, m in candidate.metrics["before_finetuning"].items() if s != HOLDOUT
            },
            holdout={"before": gate.holdout_before, "after": gate.holdout_after},
            max_drop=gate.max_drop,
            path=str(candidate.path),
        )  # fmt: skip
        if gate.promote:
            registry.promote(task, candidate.version)
        return row
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, never silent
        log.exception("retrain %s failed", task)
        row["decision"], row["reason"] = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        return row
    finally:
        row["metrics"]["minutes"] = round((time.time() - started) / 60, 3)
        row["finished_at"] = datetime.now(UTC).isoformat()
        source.record(row)
        log.info("retrain %s: %s %s: %s", task, row["decision"], row["version"] or "-", row["reason"])

"""One retraining run: labels in, a LoRA candidate out, gated, recorded.

The candidate starts from the current model (LoRA on every linear layer and the word embeddings,
merged for serving) and trains on the new labels plus replay against forgetting: the current
model's own training data where this machine has it, else the deployment's stored documents
with the current model's confident answers (splits.py). It is trained by `bloomwatch train`'s
pipeline (training.pipeline.train_task, given the splits in memory); then both models answer
the same fixed tests and the held-out slice of the new labels (compare.py) and the gate
(gate.py) decides by paired tests. Every run ends in exactly one `model_versions` row: promoted,
rejected, dry_run, skipped or failed, with the reason and the figures the decision used.
One run at a time per model registry (its versions and `current` are what a run changes): an
exclusive file lock in the registry directory, released by the OS if the process dies; in server
mode the registry is a volume shared by containers, so the lock is shared with it.
"""

from __future__ import annotations

import fcntl
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bloomwatch.errors import ExpectedError
from bloomwatch.setting_groups import RetrainSettings
from training.data import DataError, normalise_text
from training.finetune import FinetuneConfig
from training.finetune_state import PER_SITTING
from training.pipeline import TrainOptions, load_splits, splits_available, train_task
from training.registry import ModelVersion, Registry, model_name
from training.retrain.compare import paired_by_source
from training.retrain.gate import HOLDOUT, GateRules, decide
from training.retrain.source import RetrainSource
from training.retrain.splits import Reference, behaviour_tests, build_splits, original_reference, stored_reference

log = logging.getLogger(__name__)

LOCK_FILE = "retrain.lock"
TRAINED = ("promoted", "rejected")  # decisions that consumed the labels they counted
# the current model's training options that say where its data came from (its fixed test splits)
_DATA_FIELDS = ("preset", "data_file", "text_field", "label_field", "skip_invalid", "fast", "seed")


class RetrainError(ExpectedError, ValueError):
    """An expected reason a run cannot go on (no current model, nothing to test on): recorded
    and reported in one line, without a traceback."""


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


def trainable_labels(labels: list[dict[str, Any]], other_lines: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The labels a retrain of the task's main line may use: with a known text, on a document the
    main line scored. A label on a document in a language no model of the task reads, or on one
    another line's model scored (`other_lines`: their names, `other_line_models`), is kept in the
    store, not trained on: the main line's model does not read that language."""
    return [label for label in labels if untrainable_reason(label, other_lines) is None]


def untrainable_reason(label: dict[str, Any], other_lines: frozenset[str] = frozenset()) -> str | None:
    if not label["text"]:
        return "without_text"
    if label.get("unscored"):
        return f"on_{label['unscored']}_documents"
    return "on_other_line_documents" if label.get("model") in other_lines else None


def other_line_models(registry: Registry, task: str) -> frozenset[str]:
    """The names of the models ever promoted on the task's named lines and never on its main line."""
    main = set(registry.promotions(task))
    return frozenset(
        model_name(task, version)
        for line in registry.lines(task)[1:]
        for version in registry.promotions(task, line)
        if version not in main
    )


def labels_since_last_run(labels_total: int, decisions: list[dict[str, Any]]) -> int:
    last = next((d for d in decisions if d["decision"] in TRAINED), None)
    return labels_total - (last["labels_total"] if last else 0)


def parent_options(current: ModelVersion) -> TrainOptions:
    """The current model's data options, so replay and fixed tests come from its own data."""
    config = current.manifest.get("training_config")
    if not config:
        raise RetrainError(f"{current.name} has no training_config in its manifest: its fixed test splits are unknown")
    known = {f.name for f in fields(TrainOptions)}
    options = TrainOptions(**{k: config[k] for k in _DATA_FIELDS if k in config and k in known}, task=current.task)
    if options.data_file:
        options.data_file = Path(options.data_file)
    # its recipe, not how its run was sat through: a parent's budget or checkpoint directory is not the retrain's
    options.finetune = FinetuneConfig(
        **{
            k: v
            for k, v in config.get("finetune", {}).items()
            if k in FinetuneConfig.__dataclass_fields__ and k not in PER_SITTING
        }
    )
    return options


def retrain_options(parent: TrainOptions, current: ModelVersion, settings: RetrainSettings) -> TrainOptions:
    options = parent
    options.base = str(current.path)
    options.method = "lora"
    options.baseline = False
    options.promote = False  # the gate decides
    options.inherit_languages = list(current.languages)  # it reads what its parent read, and its new labels' languages
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


def reference_for(
    task: str,
    parent: TrainOptions,
    current: ModelVersion,
    labels: list[dict[str, Any]],
    *,
    settings: RetrainSettings,
    source: RetrainSource,
) -> Reference:
    """The current model's own data where it is on this machine, else the stored documents."""
    if splits_available(parent, settings.data_dir):
        return original_reference(load_splits(parent, settings.data_dir))
    documents = source.unlabelled(task, settings.retrain_reference_pool)
    exclude = {normalise_text(label["text"]) for label in labels}
    reference = stored_reference(documents, current.name, current.labels, exclude, settings)
    if not reference.test:
        raise RetrainError(
            f"nothing to check forgetting on: {current.name}'s training data is not on this machine "
            f"({settings.data_dir}) and none of the {len(documents)} recent stored documents is one it scored "
            f"with confidence >= {settings.retrain_rehearsal_min_confidence:g}; let documents flow through it first"
        )
    return reference


def run_retrain(
    task: str,
    trigger: str,
    *,
    settings: RetrainSettings,
    source: RetrainSource,
    registry: Registry,
    detail: str = "",
    dry_run: bool = False,
) -> dict[str, Any] | None:
    """One run under the lock; returns its `model_versions` row, or None if another run holds the lock.
    `dry_run`: everything but the promotion (decision `dry_run`, the reason says what the gate decided)."""
    with retrain_lock(settings.registry_dir) as held:
        if not held:
            log.warning(
                "retrain %s (%s): another retraining run holds %s; not starting",
                task,
                trigger,
                settings.registry_dir / LOCK_FILE,
            )
            return None
        return _run(task, trigger, settings=settings, source=source, registry=registry, detail=detail, dry_run=dry_run)


def _run(
    task: str,
    trigger: str,
    *,
    settings: RetrainSettings,
    source: RetrainSource,
    registry: Registry,
    detail: str,
    dry_run: bool,
) -> dict[str, Any]:
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
            raise RetrainError(f"no current {task} model in {registry.root} to retrain")
        all_labels = source.labels(task)
        other_lines = other_line_models(registry, task)
        labels = trainable_labels(all_labels, other_lines)
        row["labels_total"] = len(labels)
        untrainable = (untrainable_reason(label, other_lines) for label in all_labels if label not in labels)
        for reason, n in Counter(untrainable).items():
            row["metrics"][f"labels_{reason}"] = n
        new = labels_since_last_run(len(labels), source.decisions(task))
        if not labels or (trigger != "manual" and new <= 0):
            row["decision"] = "skipped"
            row["reason"] = (
                f"no new labels since the last run ({len(labels)} in all); `bloomwatch label queue` lists what to label"
            )
            return row
        parent = parent_options(current)
        reference = reference_for(task, parent, current, labels, settings=settings, source=source)
        behaviour, untrainable = behaviour_tests(task)
        reference = replace(reference, test=reference.test + behaviour)
        splits, counts = build_splits(labels, reference, settings, parent.seed, untrainable)
        row.update({k: counts.pop(k) for k in ("labels_train", "labels_holdout", "replay_examples")})
        row["metrics"].update(counts, reference=reference.origin)
        if not row["labels_train"]:
            row["decision"] = "skipped"
            row["reason"] = (
                f"none of the {len(labels)} labels is left to train on (held out, duplicates or texts of the fixed tests)"
            )
            return row
        options = retrain_options(parent, current, settings)
        # trained without an evaluation of its own: both models answer the gate's examples below, once
        candidate = train_task(
            options=options,
            registry=registry,
            data_dir=settings.data_dir,
            home=settings.home,
            splits=replace(splits, test=[]),
        )
        paired = paired_by_source(current.path, candidate.path, splits.test, current.labels,
                                  max_len=options.finetune.max_len, cache_dir=settings.home / "cache" / "gate")  # fmt: skip
        rules = GateRules(settings.retrain_gate_margin, settings.retrain_gate_alpha, settings.retrain_min_holdout)
        gate = decide(paired, rules)
        decision = "promoted" if gate.promote else "rejected"
        row.update(version=candidate.version, reason=gate.reason, decision=decision)
        if dry_run:
            row.update(decision="dry_run", reason=f"would be {decision}: {gate.reason}")
        held = gate.figures.get(HOLDOUT, {})
        row["metrics"].update(
            gate=gate.figures,
            rules={"margin": rules.margin, "alpha": rules.alpha, "min_holdout": rules.min_holdout},
            same_examples=True,
            fixed={s: {"before": f["current"]["acc"], "after": f["candidate"]["acc"]} for s, f in gate.figures.items() if s != HOLDOUT},
            holdout={"before": held.get("current", {}).get("acc"), "after": held.get("candidate", {}).get("acc")},
            max_drop=gate.max_drop,
            path=str(candidate.path),
        )  # fmt: skip
        if gate.promote and not dry_run:
            registry.promote(task, candidate.version)
        return row
    except (RetrainError, DataError, httpx.TransportError) as exc:
        log.error("retrain %s failed: %s", task, exc)  # expected: the reason is the whole story
        row["decision"], row["reason"] = "failed", str(exc)[:2000]
        return row
    except Exception as exc:
        log.exception("retrain %s failed", task)
        row["decision"], row["reason"] = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        return row
    finally:
        row["metrics"]["minutes"] = round((time.time() - started) / 60, 3)
        row["finished_at"] = datetime.now(UTC).isoformat()
        source.record(row)
        log.info("retrain %s: %s %s: %s", task, row["decision"], row["version"] or "-", row["reason"])

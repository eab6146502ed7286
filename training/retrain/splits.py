"""What a retrain trains, validates and is tested on, so that it never trains on what it tests.

Labels are deduplicated by normalised text (training.data.normalise_text) and sliced by a hash
of that text, not of the document id: the same sentence under two ids lands in one slice, and a
text stays in its slice across runs. A label whose text is in a fixed test set never trains.

Against forgetting, a `Reference`: replay examples and fixed tests. Where the current model's
own training data is on this machine (its manifest names a file or the shared splits), those:
its train split replays and its test split is the fixed test. On a deployment without it, the
deployment's stored documents with the current model's own answers (its stored scores, the
confident ones only): a slice of them by text hash is the fixed test (does the candidate still
answer what the current model answered with confidence?) and the rest is rehearsed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from bloomwatch.setting_groups import RetrainSettings
from training.behaviour_suite import behaviour_suite
from training.data import Example, normalise_text
from training.pipeline import Splits
from training.retrain.gate import HOLDOUT

STORED = "stored_documents"  # evaluation source of the fixed test drawn from stored documents
BEHAVIOUR = "behaviour_suite"  # evaluation source of the sentiment behaviour suite's labelled sentences
REHEARSAL = "rehearsal"  # source of the stored documents replayed in training
_VAL_SHARE = 0.125  # of the non-holdout labels: early stopping must see the new vocabulary too
_MAX_REPLAY_VAL = 200


@dataclass(frozen=True)
class Reference:
    train: list[Example]  # replayed in training
    val: list[Example]  # replayed in validation
    test: list[Example]  # the fixed tests of the gate
    origin: str


def bucket(key: str) -> float:
    """A stable position in [0, 1) per key: a text stays in its slice across runs."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8


def is_holdout(text: str, share: float) -> bool:
    return bucket(normalise_text(text)) < share


def dedupe_labels(labels: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One label per normalised text: the latest given wins (ties: the larger document id).
    Returns the labels kept and how many duplicates and conflicting duplicates were dropped."""
    latest: dict[str, dict[str, Any]] = {}
    conflicts = 0
    for label in sorted(labels, key=lambda x: (x["labelled_at"], x["document_id"])):
        key = normalise_text(label["text"])
        if key in latest and latest[key]["label"] != label["label"]:
            conflicts += 1
        latest[key] = label
    return list(latest.values()), {"duplicate_labels": len(labels) - len(latest), "conflicting_labels": conflicts}


def behaviour_tests(task: str) -> tuple[list[Example], set[str]]:
    """For sentiment, the behaviour suite (project-written sentences, on every machine): its
    labelled sentences join the fixed tests, and none of its sentences (invariance pairs too) may
    train. Other tasks have none."""
    if task != "sentiment":
        return [], set()
    suite = behaviour_suite()
    return [Example(c.text, c.label, BEHAVIOUR) for c in suite.cases], suite.texts()


def original_reference(original: Splits) -> Reference:
    return Reference(original.train, original.val, original.test, original.origin)


def stored_reference(
    documents: list[dict[str, Any]], model: str, labels: tuple[str, ...], exclude: set[str], settings: RetrainSettings
) -> Reference:
    """From stored documents scored by `model` (the current model): the ones it answered with at
    least `retrain_rehearsal_min_confidence`, labelled with its answer; texts in `exclude` (the
    users' labels) are left out, so a labelled text is neither rehearsed nor tested here."""
    seen: set[str] = set(exclude)
    test: list[Example] = []
    train: list[Example] = []
    val: list[Example] = []
    for doc in documents:
        key = normalise_text(doc["text"] or "")
        if doc["model"] != model or not key or key in seen:
            continue
        seen.add(key)
        top = max(range(len(labels)), key=lambda i: doc["probs"][i])
        if doc["probs"][top] < settings.retrain_rehearsal_min_confidence:
            continue
        if bucket(key) < settings.retrain_reference_share:
            test.append(Example(doc["text"], labels[top], STORED))
        else:
            (val if bucket(key + "#val") < _VAL_SHARE else train).append(Example(doc["text"], labels[top], REHEARSAL))
    origin = f"{len(documents)} recent stored documents with {model}'s confident answers"
    return Reference(train, val, test, origin)


def gate_sample(examples: list[Example], per_source: int) -> list[Example]:
    """At most `per_source` examples of each source, the same ones every run and on every machine
    (lowest text hashes), so both models and successive runs answer one fixed set and the cached
    answers of the current model stay valid. The behaviour suite is kept whole: it is the suite."""
    by_source: dict[str, list[Example]] = {}
    for e in examples:
        by_source.setdefault(e.source, []).append(e)
    kept = []
    for source, items in by_source.items():
        kept += (
            items if source == BEHAVIOUR else sorted(items, key=lambda e: bucket(normalise_text(e.text)))[:per_source]
        )
    return kept


def build_splits(
    labels: list[dict[str, Any]],
    reference: Reference,
    settings: RetrainSettings,
    seed: int,
    untrainable: AbstractSet[str] = frozenset(),
) -> tuple[Splits, dict[str, int]]:
    """New labels (train / val / holdout by text hash, none in a fixed test nor `untrainable`,
    normalised texts) + replay; the test is the gate's sample of the reference's fixed tests plus
    the holdout (source HOLDOUT). No text of a fixed test trains, sampled for the gate or not."""
    rng = random.Random(seed)
    labels, counts = dedupe_labels(labels)
    fixed = {normalise_text(e.text) for e in reference.test} | untrainable
    holdout, val, train = [], [], []
    for label in labels:
        key = normalise_text(label["text"])
        example = Example(label["text"], label["label"], HOLDOUT)
        if is_holdout(key, settings.retrain_holdout_share):
            holdout.append(example)
        elif key in fixed:
            counts["labels_in_fixed_tests"] = counts.get("labels_in_fixed_tests", 0) + 1
        elif bucket(key + "#val") < _VAL_SHARE:
            val.append(example)
        else:
            train.append(example)
    tested = fixed | {normalise_text(e.text) for e in holdout}
    replay_pool = [e for e in reference.train if normalise_text(e.text) not in tested]
    replay_val_pool = [e for e in reference.val if normalise_text(e.text) not in tested]
    replay_n = min(len(replay_pool), round(settings.retrain_replay_ratio * len(train)))
    replay = rng.sample(replay_pool, replay_n)
    replay_val = rng.sample(replay_val_pool, min(len(replay_val_pool), _MAX_REPLAY_VAL))
    splits = Splits(
        train=train + replay,
        val=val + replay_val,
        test=gate_sample(reference.test, settings.retrain_gate_per_source) + holdout,
        origin=f"retrain: {len(train)} new labels + {replay_n} replayed from {reference.origin}",
        reports=[],
    )
    counts.update(labels_train=len(train), labels_holdout=len(holdout), replay_examples=replay_n)
    return splits, counts

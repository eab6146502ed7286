"""Soft labels from a teacher over unlabelled in-domain text, for distillation (issue 28).

A small student gains most when a teacher labels plenty of unlabelled in-domain text with its
whole distribution, not only its argmax (Tang et al. 2019). Two teachers can label: the ensemble
here, the mean of two models' probabilities that err differently (a registered sentiment BLOOM
and the TF-IDF + logistic-regression baseline fit on the same training mix, which beats the BLOOM
on finance tweets and finance headlines), and a pre-trained English encoder fine-tuned on the mix
(`training.encoder_teacher`). The student is fine-tuned on these soft labels beside the
hard-labelled mix (`FinetuneConfig.distill_weight`); a teacher is a training-time artefact only,
never a runtime dependency.

Labelling costs minutes (a TF-IDF fit and a BLOOM pass, or an encoder pass, over every sampled
text), so the labels are cached as a file under `<home>/cache/teacher/`, keyed by what the
teacher's labels depend on (its `identity`) and the sample: a second run, or a resumed one, reads
it, and fine-tuning stays one command.

No evaluation text is labelled: texts equal (normalised) to any validation or test text, or to a
behaviour-suite sentence, are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from bloomwatch.atomic_write import write_atomically
from training.data import Example, MissingData, fingerprint, normalise_text
from training.registry import ModelVersion

# the review, social and finance text of the shared `unlabeled/` folder (its README): the domains
# of the sentiment test splits (products and services, tweets, finance news)
UNLABELED_FILES = ("reviews_products", "reviews", "social", "finance")
# texts per file: 8,000 in all add 10 % to the 80,000 rows of an epoch of the default recipe
# (40,000 examples and their hedged copies), so a distilled epoch costs 10 % more (labelling time:
# bench/RESULTS.md); the files are shuffled with a fixed seed, so their first lines are a fair sample
PER_FILE = 2000
# part of the cache key: a change to how the teacher labels (ensemble, sampling) must bump it
RECIPE_VERSION = 2


@dataclass(frozen=True)
class SoftExample:
    text: str
    probs: tuple[float, ...]  # the teacher's distribution, in the task's label order
    source: str  # "unlabeled/<file>"


def sample_unlabeled(
    data_dir: Path, per_file: int, exclude: set[str], files: Sequence[str] = UNLABELED_FILES
) -> list[tuple[str, str]]:
    """(text, source) of the first `per_file` usable lines of each file: not blank, not in
    `exclude` (normalised), not seen before; reading stops there (the files run to 65 MB)."""
    folder = Path(data_dir) / "unlabeled"
    found = [name for name in files if (folder / f"{name}.txt").exists()]
    if not found:
        raise MissingData(
            f"no unlabelled text for the teacher: {folder} lacks {', '.join(f'{n}.txt' for n in files)}; set BLOOMWATCH_DATA_DIR"
        )
    seen = set(exclude)
    out = []
    for name in found:
        taken = 0
        with open(folder / f"{name}.txt", encoding="utf-8") as lines:
            for line in lines:
                text, key = line.strip(), normalise_text(line)
                if not text or key in seen:
                    continue
                seen.add(key)
                out.append((text, f"unlabeled/{name}"))
                taken += 1
                if taken == per_file:
                    break
    return out


def ensemble_proba(bloom_probs: np.ndarray, tfidf_probs: np.ndarray) -> np.ndarray:
    """The teacher's distribution: the mean of the two models' probabilities."""
    return (bloom_probs + tfidf_probs) / 2


class Teacher(Protocol):
    """What labels the sample: its name, what its labels depend on (part of the cache key) and its
    probabilities over texts, in the task's label order."""

    @property
    def name(self) -> str: ...

    @property
    def identity(self) -> list: ...

    @property
    def val_macro_f1(self) -> float | None:
        """The teacher's own validation macro-F1, where it was fine-tuned here."""

    def proba(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class EnsembleTeacher:
    """A registered sentiment BLOOM and the TF-IDF baseline fit on the training mix, averaged."""

    version: ModelVersion
    train: list[Example]
    labels: Sequence[str]
    max_len: int
    seed: int
    device: str | None = None
    progress: bool = True
    log: Callable[[str], object] = print
    val_macro_f1: float | None = None

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def identity(self) -> list:
        from training.baseline import RECIPE_VERSION as BASELINE_RECIPE

        return [self.version.name, self.version.manifest.get("created_at"), BASELINE_RECIPE, fingerprint(self.train),
                self.seed, list(self.labels), self.max_len]  # fmt: skip

    def proba(self, texts: list[str]) -> np.ndarray:
        return ensemble_proba(
            _bloom_proba(
                self.version, texts, self.labels, max_len=self.max_len, device=self.device, progress=self.progress
            ),
            _tfidf_proba(self.train, texts, self.labels, seed=self.seed, log=self.log),
        )


def teacher_labels(
    teacher: Teacher,
    evaluation: Iterable[Example],
    labels: Sequence[str],
    *,
    data_dir: Path,
    cache_dir: Path,
    per_file: int = PER_FILE,
    log=print,
) -> tuple[list[SoftExample], Path]:
    """The soft-labelled sample and the artefact file that holds it (written on the first call,
    read on the next). `evaluation` holds the validation and test examples no sampled text may equal."""
    from training.behaviour_suite import behaviour_suite

    exclude = {normalise_text(e.text) for e in evaluation} | behaviour_suite().texts()
    sample = sample_unlabeled(data_dir, per_file, exclude)
    texts = [text for text, _ in sample]
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    key = json.dumps([RECIPE_VERSION, teacher.identity, list(labels), list(UNLABELED_FILES), per_file, digest])
    path = Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        log(f"teacher labels: {len(texts)} texts read from {path}")
        return [
            SoftExample(r["text"], tuple(r["probs"]), r["source"]) for r in json.loads(path.read_text())["examples"]
        ], path

    probs = teacher.proba(texts)
    soft = [
        SoftExample(text, tuple(round(float(p), 6) for p in row), source)
        for (text, source), row in zip(sample, probs, strict=True)
    ]
    artefact = {"key": json.loads(key), "teacher": teacher.name, "labels": list(labels),
                "examples": [{"text": s.text, "probs": list(s.probs), "source": s.source} for s in soft]}  # fmt: skip
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(artefact)))
    log(f"teacher labels: {len(soft)} texts labelled by {teacher.name}, cached in {path}")
    return soft, path


def _bloom_proba(
    teacher: ModelVersion, texts: list[str], labels: Sequence[str], *, max_len: int, device: str | None, progress: bool
) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer, BloomForSequenceClassification

    from training.evaluate import predict_proba

    model = BloomForSequenceClassification.from_pretrained(teacher.path, dtype=torch.float32)
    id2label = cast(dict[int, str], model.config.id2label)  # a classifier's: set, keyed by output index
    order = [id2label[i] for i in range(len(id2label))]
    if order != list(labels):
        raise ValueError(f"teacher {teacher.name} has labels {order}, the task {list(labels)}")
    tokenizer = AutoTokenizer.from_pretrained(teacher.path)
    return predict_proba(
        model, tokenizer, texts, max_len=max_len, device=device, progress=progress, desc=f"teacher: {teacher.name}"
    )


def _tfidf_proba(train: list[Example], texts: list[str], labels: Sequence[str], *, seed: int, log) -> np.ndarray:
    from training.baseline import baseline_proba, train_tfidf_baseline

    log(f"teacher labels: fitting the TF-IDF baseline on the {len(train)}-example training mix")
    return baseline_proba(
        train_tfidf_baseline([e.text for e in train], [e.label for e in train], seed=seed), texts, labels
    )

"""Scoring a classifier: accuracy, macro-F1, per-class report, confusion matrix, calibration (ECE).

A dataset whose gold labels are a subset of the task's labels (reviews_mr: negative/positive
only) is scored on that subset: the model's probabilities are restricted to those classes and
renormalised, so a 3-class sentiment model is judged as the binary classifier the data can test.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from bloomwatch.progress import progress_bar
from training.encoding import encode
from training.runtime import pick_device

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel


@torch.no_grad()
def predict_proba(
    model: PreTrainedModel | PeftModel,
    tokenizer,
    texts: Sequence[str],
    *,
    max_len: int = 128,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
    desc: str = "evaluating",
) -> np.ndarray:
    """Class probabilities (texts cut head + tail to `max_len` tokens), batched by length so padding costs little."""
    dev = pick_device(device)
    model.to(dev).eval()  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps, which mypy does not bind
    encoded = encode(tokenizer, texts, max_len)
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(texts), cast(int, model.config.num_labels)), dtype=np.float32)  # a classifier's is set
    starts = range(0, len(order), batch_size)
    for start in progress_bar(starts, desc=desc, disable=not progress, unit="batch", leave=False):
        idx = order[start : start + batch_size]
        enc = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
        logits = model(input_ids=enc["input_ids"].to(dev), attention_mask=enc["attention_mask"].to(dev)).logits
        out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def restrict_to_gold(
    gold: Sequence[str], probs: np.ndarray, labels: Sequence[str]
) -> tuple[list[str], np.ndarray, list[str]]:
    """(labels present in `gold`, probabilities renormalised over them, predicted label per row):
    a binary dataset is judged as the binary classifier it can test, here and in the retrain gate."""
    labels = list(labels)
    present = [label for label in labels if label in set(gold)]
    columns = [labels.index(label) for label in present]
    sub = probs[:, columns]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    return present, sub, [present[i] for i in sub.argmax(axis=1)]


def score(gold: Sequence[str], probs: np.ndarray, labels: Sequence[str]) -> dict:
    """Metrics over the labels that occur in `gold` (binary scoring for a binary dataset)."""
    present, sub, predicted = restrict_to_gold(gold, probs, labels)
    correct = np.array([p == g for p, g in zip(predicted, gold, strict=True)], dtype=float)
    return {
        "n": len(gold),
        "labels": present,
        "acc": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)),
        "ece": expected_calibration_error(sub.max(axis=1), correct),
        "per_class": classification_report(gold, predicted, labels=present, output_dict=True, zero_division=0),
        "confusion_matrix": confusion_matrix(gold, predicted, labels=present).tolist(),
    }

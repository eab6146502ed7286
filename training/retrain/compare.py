"""Score the current model and the candidate on exactly the same examples, cached.

The gate (gate.py) needs both models' answer on each text, not two accuracies from different
samples (issue 30). Each model's probabilities on a list of examples are computed once and kept
under `<home>/cache/gate`, keyed by the model's weights file and the examples: the current model
is scored on the fixed tests only when those or the model change, and a promoted candidate's
scores are already there when it becomes the current model of the next run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from training.data import Example
from training.evaluate import restrict_to_gold
from training.retrain.paired import Paired

WEIGHTS = "model.safetensors"


def paired_by_source(
    current_dir: Path,
    candidate_dir: Path,
    examples: list[Example],
    labels: tuple[str, ...],
    *,
    max_len: int,
    cache_dir: Path,
) -> dict[str, Paired]:
    """Per evaluation source, both models' correctness on its examples, paired."""
    current = _correct(current_dir, examples, labels, max_len, cache_dir)
    candidate = _correct(candidate_dir, examples, labels, max_len, cache_dir)
    sources = sorted({e.source for e in examples})
    return {s: Paired.of(current[s], candidate[s]) for s in sources}


def _correct(
    model_dir: Path, examples: list[Example], labels: tuple[str, ...], max_len: int, cache_dir: Path
) -> dict[str, np.ndarray]:
    probs = _probabilities(model_dir, [e.text for e in examples], max_len, cache_dir)
    out = {}
    for source in {e.source for e in examples}:
        rows = [i for i, e in enumerate(examples) if e.source == source]
        gold = [examples[i].label for i in rows]
        _, _, predicted = restrict_to_gold(gold, probs[rows], labels)
        out[source] = np.array([p == g for p, g in zip(predicted, gold, strict=True)])
    return out


def _probabilities(model_dir: Path, texts: list[str], max_len: int, cache_dir: Path) -> np.ndarray:
    weights = Path(model_dir) / WEIGHTS
    digest = hashlib.sha256(f"{weights.resolve()}\0{weights.stat().st_mtime_ns}\0{max_len}".encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    cached = cache_dir / f"{digest.hexdigest()[:24]}.npy"
    if cached.exists():
        return np.load(cached)
    probs = _predict(model_dir, texts, max_len)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial.npy")
    np.save(partial, probs)
    partial.rename(cached)  # a run killed mid-write leaves no truncated cache entry
    return probs


def _predict(model_dir: Path, texts: list[str], max_len: int) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer, BloomForSequenceClassification

    from training.evaluate import predict_proba

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = BloomForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32, use_safetensors=True)
    return predict_proba(model, tokenizer, texts, max_len=max_len)

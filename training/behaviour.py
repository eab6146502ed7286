"""Scoring a sentiment classifier on the behaviour suite (training/behaviour_suite.py).

Any classifier that maps texts to class probabilities is scored the same way (the fine-tuned
BLOOM and the TF-IDF baseline), so their figures stand side by side. Every failure is listed with
the sentence, what was expected and what was said: a figure alone does not tell a developer which
phrasing the model cannot read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from training.behaviour_suite import MFT_GROUPS, Suite, behaviour_suite

Predict = Callable[[Sequence[str]], np.ndarray]


def score_behaviour(predict: Predict, labels: Sequence[str], suite: Suite | None = None) -> dict:
    """{"groups": {group: acc, n, failures}, "invariance": {group: flip_rate, n, failures}, "max_flip_rate"}.

    Labels are the 3-class argmax: a user sees that answer, so a clear complaint called neutral fails.
    """
    suite = suite or behaviour_suite()
    labels = list(labels)
    texts = sorted({c.text for c in suite.cases} | {t for p in suite.pairs for t in (p.base, p.edited)})
    said = dict(zip(texts, (labels[i] for i in predict(texts).argmax(axis=1)), strict=True))
    groups = {}
    for group in MFT_GROUPS:
        cases = [c for c in suite.cases if c.group == group]
        failures = [
            {"text": c.text, "expected": c.label, "predicted": said[c.text]} for c in cases if said[c.text] != c.label
        ]
        groups[group] = {"n": len(cases), "acc": 1 - len(failures) / len(cases), "failures": failures}
    invariance: dict[str, dict[str, Any]] = {}
    for group in sorted({p.group for p in suite.pairs}):
        pairs = [p for p in suite.pairs if p.group == group]
        flips = [
            {"base": p.base, "edited": p.edited, "base_predicted": said[p.base], "edited_predicted": said[p.edited]}
            for p in pairs
            if said[p.base] != said[p.edited]
        ]
        invariance[group] = {"n": len(pairs), "flip_rate": len(flips) / len(pairs), "failures": flips}
    return {
        "n_sentences": len(texts),
        "groups": groups,
        "invariance": invariance,
        "max_flip_rate": max(v["flip_rate"] for v in invariance.values()),
    }


def behaviour_summary(result: dict) -> str:
    """One line for the console: accuracy per group and the worst invariance flip rate."""
    accs = ", ".join(f"{g} {v['acc']:.3f}" for g, v in result["groups"].items())
    return f"{accs}; invariance max flip {result['max_flip_rate']:.3f}"

"""Does the model read the text or the dataset's style? Flip rates under label-preserving edits.

Two edits that must not change a sentiment: lowercasing the text (reviews_mr is all lowercase;
letter case must carry no label) and appending " I guess." (a hedge, not a verdict). The flip rate
is the share of predictions that change; an alert on negative sentiment also needs the negative
class found, so its recall is reported beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EDITS: dict[str, Callable[[str], str]] = {
    "lowercase": str.lower,
    "append_i_guess": lambda text: text.rstrip() + " I guess.",
}


def _predicted(probs: np.ndarray, columns: list[int]) -> np.ndarray:
    return np.array(columns)[probs[:, columns].argmax(axis=1)]


def robustness(
    predict: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], gold: Sequence[str], labels: Sequence[str]
) -> dict:
    """Flip rate per edit and negative recall, scored over the labels `gold` uses (binary sets stay binary)."""
    labels = list(labels)
    columns = [i for i, label in enumerate(labels) if label in set(gold)]
    base = _predicted(predict(texts), columns)
    out: dict[str, float] = {}
    for name, edit in EDITS.items():
        edited = _predicted(predict([edit(t) for t in texts]), columns)
        out[f"flip_{name}"] = float(np.mean(edited != base))
    if "negative" in gold:
        negative = np.array([g == "negative" for g in gold])
        out["negative_recall"] = float(np.mean(base[negative] == labels.index("negative")))
    return out

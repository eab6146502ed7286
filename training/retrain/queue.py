"""Active learning: which stored documents would a label help most?

The model's own uncertainty ranks them (smallest margin between the two top classes, or highest
entropy), and the picks are dealt round-robin over sources, so one noisy source cannot fill the
whole queue and the labels cover every feed the model has to serve. A text stored under several
ids (a feed repeating itself, the demo's sentences) is offered once: a second label on the same
text teaches nothing and costs a labeller's time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from training.data import normalise_text

Strategy = Literal["margin", "entropy"]
STRATEGIES: tuple[str, ...] = ("margin", "entropy")


def uncertainty(probs: Sequence[float], by: Strategy) -> float:
    """Higher is more uncertain: 1 - (top1 - top2), or the entropy in nats."""
    if by == "margin":
        top = sorted(probs, reverse=True)
        return 1.0 - (top[0] - (top[1] if len(top) > 1 else 0.0))
    if by == "entropy":
        return -sum(p * math.log(p) for p in probs if p > 0)
    raise ValueError(f"unknown strategy {by!r}; known: {', '.join(STRATEGIES)}")


def select_for_labelling(candidates: Sequence[dict[str, Any]], n: int, by: Strategy = "margin") -> list[dict[str, Any]]:
    """The `n` most useful candidates (dicts with `source`, `text` and `probs`), spread over sources:
    each round takes every source's next most uncertain document, most uncertain first; of
    candidates with the same normalised text only the most uncertain is offered."""
    distinct: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        scored = {**candidate, "uncertainty": round(uncertainty(candidate["probs"], by), 6)}
        key = normalise_text(candidate["text"])
        if key not in distinct or scored["uncertainty"] > distinct[key]["uncertainty"]:
            distinct[key] = scored
    per_source: dict[str, list[dict[str, Any]]] = {}
    for scored in distinct.values():
        per_source.setdefault(scored["source"], []).append(scored)
    queues = [sorted(items, key=lambda c: -c["uncertainty"]) for items in per_source.values()]
    picked: list[dict[str, Any]] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        round_ = sorted((q[depth] for q in queues if depth < len(q)), key=lambda c: -c["uncertainty"])
        picked += round_[: n - len(picked)]
        if len(picked) >= n:
            break
    return picked

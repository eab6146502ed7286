"""Gated promotion: a retrained candidate replaces the current model only if it is no worse than
the current model by more than `margin` on any fixed test split (no forgetting) and strictly
better on the held-out slice of the new labels (it learned what it was retrained for).

Both models are scored by the same `bloomwatch train` evaluation on the same examples: the
pipeline's `before_finetuning` figures are the current model (the retrain starts from it) and its
`test` figures are the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HOLDOUT = "new_labels"  # the evaluation source name of the new-label holdout


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reason: str
    max_drop: float  # largest accuracy loss over the fixed test splits (negative: all improved)
    holdout_before: float | None
    holdout_after: float | None


def decide(current: Mapping[str, dict], candidate: Mapping[str, dict], margin: float) -> GateResult:
    """`current` and `candidate` map evaluation source -> score() dict (with "acc")."""
    fixed = sorted(source for source in current if source != HOLDOUT)
    drops = {source: current[source]["acc"] - candidate[source]["acc"] for source in fixed}
    max_drop = max(drops.values(), default=0.0)
    before = current.get(HOLDOUT, {}).get("acc")
    after = candidate.get(HOLDOUT, {}).get("acc")
    problems = []
    if not fixed:
        problems.append("no fixed test split to check forgetting on")
    problems += [f"{s} accuracy fell {d:.3f} (> margin {margin:.3f})" for s, d in sorted(drops.items()) if d > margin]
    if before is None or after is None:
        problems.append("no held-out new labels to show an improvement on")
    elif after <= before:
        problems.append(f"not better on the new-label holdout ({after:.3f} vs current {before:.3f})")
    if problems:
        return GateResult(False, "; ".join(problems), max_drop, before, after)
    reason = (f"new-label holdout {before:.3f} -> {after:.3f}; fixed tests lose at most {max(max_drop, 0):.3f}"
              f" (margin {margin:.3f})")  # fmt: skip
    return GateResult(True, reason, max_drop, before, after)

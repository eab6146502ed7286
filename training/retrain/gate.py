"""Gated promotion: a retrained candidate replaces the current model only if it is not worse on
any fixed test (no forgetting) and is better on the held-out slice of the new labels (it learned
what it was retrained for).

Both models answer exactly the same examples (compare.py) and each judgement is a paired test
(paired.py), not a raw difference: a fixed test counts as lost when the candidate is worse there
significantly (one-sided exact McNemar, p < alpha) *and* by more than the margin (the loss the
operator tolerates); the holdout counts as a gain only when the candidate is significantly
better there on at least `min_holdout` texts. Fewer held-out labels than that cannot show a gain,
so the candidate is not promoted and the reason says to label more. A candidate identical to the
current model has no discordant pair anywhere: never promoted, never rejected for a drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from training.retrain.paired import Paired

HOLDOUT = "new_labels"  # the evaluation source name of the new-label holdout


@dataclass(frozen=True)
class GateRules:
    margin: float  # accuracy a fixed test may lose (if the loss is significant) and still promote
    alpha: float = 0.05  # significance level of each one-sided paired test
    min_holdout: int = 30  # held-out labels below which the new labels are too few to judge


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reason: str
    max_drop: float  # largest accuracy loss over the fixed tests (negative: all improved)
    figures: dict[str, dict] = field(default_factory=dict)  # per evaluation source: Paired.figures()


def decide(paired: Mapping[str, Paired], rules: GateRules) -> GateResult:
    """`paired` maps evaluation source -> both models' paired answers on its examples."""
    figures = {source: p.figures() for source, p in paired.items()}
    fixed = sorted(s for s in paired if s != HOLDOUT and paired[s].n)
    max_drop = max((paired[s].drop for s in fixed), default=0.0)
    problems = [] if fixed else ["no fixed test to check forgetting on"]
    for source in fixed:
        p = paired[source]
        if p.drop > rules.margin and p.p_worse() < rules.alpha:
            problems.append(f"{source} lost {p.drop:.3f} (> margin {rules.margin:.3f}, p={p.p_worse():.3g}, n={p.n})")
    holdout = paired.get(HOLDOUT)
    if holdout is None or holdout.n < rules.min_holdout:
        held = holdout.n if holdout else 0
        problems.append(f"the new labels are too few to judge: {held} held out (< {rules.min_holdout}); label more")
    elif holdout.p_better() >= rules.alpha:
        problems.append(
            f"not significantly better on the new-label holdout ({_acc(holdout)}, p={holdout.p_better():.3g})"
        )
    if problems or holdout is None:
        return GateResult(False, "; ".join(problems), max_drop, figures)
    fixed_part = ", ".join(
        f"{s} {paired[s].current_correct / paired[s].n:.3f}->{paired[s].candidate_correct / paired[s].n:.3f} (n={paired[s].n})"
        for s in fixed
    )
    reason = f"new-label holdout {_acc(holdout)}, p={holdout.p_better():.3g}; fixed tests {fixed_part}"
    return GateResult(True, reason, max_drop, figures)


def _acc(p: Paired) -> str:
    return f"{p.current_correct / p.n:.3f} -> {p.candidate_correct / p.n:.3f}, n={p.n}"

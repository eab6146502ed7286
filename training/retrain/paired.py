"""Two models' answers on the same examples, compared as pairs.

Two accuracies measured on different samples differ by sampling noise alone (issue 30: a 0.02
margin was flipped by which 500 reviews were drawn). On the same examples only the texts where
the models disagree carry information: `worse` (current right, candidate wrong) and `better`
(the reverse). McNemar's exact test is a binomial test on those discordant pairs; a candidate
identical to the current model has none, so it can neither gain nor lose.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

import numpy as np
from scipy.stats import binomtest

Z95 = 1.959964  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class Paired:
    n: int
    current_correct: int
    candidate_correct: int
    worse: int  # current right, candidate wrong
    better: int  # current wrong, candidate right

    @classmethod
    def of(cls, current: np.ndarray, candidate: np.ndarray) -> Paired:
        """From per-example correctness (booleans, same examples in the same order)."""
        current, candidate = np.asarray(current, bool), np.asarray(candidate, bool)
        if current.shape != candidate.shape:
            raise ValueError("paired scores need the same examples for both models")
        return cls(
            n=int(current.size),
            current_correct=int(current.sum()),
            candidate_correct=int(candidate.sum()),
            worse=int((current & ~candidate).sum()),
            better=int((~current & candidate).sum()),
        )

    @property
    def drop(self) -> float:
        """Accuracy the candidate loses (negative: it gains)."""
        return (self.current_correct - self.candidate_correct) / self.n if self.n else 0.0

    def p_worse(self) -> float:
        """One-sided exact McNemar p-value that the candidate is worse than the current model."""
        return _one_sided(self.worse, self.better)

    def p_better(self) -> float:
        """One-sided exact McNemar p-value that the candidate is better."""
        return _one_sided(self.better, self.worse)

    def drop_ci(self) -> tuple[float, float]:
        """95 % interval of the paired accuracy drop (Wald on the per-example differences; a
        candidate that agrees everywhere gets exactly [0, 0])."""
        if not self.n:
            return (0.0, 0.0)
        d = self.worse - self.better
        se = sqrt(max(self.worse + self.better - d * d / self.n, 0.0)) / self.n
        return (d / self.n - Z95 * se, d / self.n + Z95 * se)

    def figures(self) -> dict:
        """What the audit row and the printed decision carry: n, both accuracies with their
        95 % (Clopper-Pearson) intervals, the paired drop with its interval, the discordant
        counts and both one-sided p-values."""
        return {
            "n": self.n,
            "current": _accuracy(self.current_correct, self.n),
            "candidate": _accuracy(self.candidate_correct, self.n),
            "drop": round(self.drop, 4),
            "drop_ci95": [round(x, 4) for x in self.drop_ci()],
            "worse": self.worse,
            "better": self.better,
            "p_worse": float(f"{self.p_worse():.3g}"),
            "p_better": float(f"{self.p_better():.3g}"),
        }


def _one_sided(k: int, other: int) -> float:
    if k + other == 0:
        return 1.0
    return float(binomtest(k, k + other, 0.5, alternative="greater").pvalue)


def _accuracy(correct: int, n: int) -> dict:
    if not n:
        return {"acc": None, "ci95": None}
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="exact")
    return {"acc": round(correct / n, 4), "ci95": [round(ci.low, 4), round(ci.high, 4)]}

"""Drift: is the stream moving away from what the current model was trained for?

Without labels, the model's own outputs are the signal: per source, the distribution of predicted
labels (Population Stability Index between a reference window and the recent window) and the mean
confidence (a model facing new vocabulary gets less sure). Per source, because a shift in one
feed is diluted to nothing in the total. PSI = sum((recent - ref) * ln(recent / ref)); the usual
reading is < 0.1 stable, 0.1-0.25 moderate, > 0.25 a significant shift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_FLOOR = 1e-4  # share given to a label that does not occur, so PSI stays finite


def psi(reference: Mapping[str, int], recent: Mapping[str, int], labels: Sequence[str]) -> float:
    ref_n, rec_n = sum(reference.values()) or 1, sum(recent.values()) or 1
    total = 0.0
    for label in labels:
        p = max(reference.get(label, 0) / ref_n, _FLOOR)
        q = max(recent.get(label, 0) / rec_n, _FLOOR)
        total += (q - p) * math.log(q / p)
    return total


@dataclass(frozen=True)
class DriftFinding:
    source: str
    psi: float
    confidence_drop: float
    reference_n: int
    recent_n: int

    def describe(self) -> str:
        return (f"{self.source}: PSI {self.psi:.3f}, mean confidence -{self.confidence_drop:.3f} "
                f"({self.reference_n} reference vs {self.recent_n} recent documents)")  # fmt: skip


def find_drift(
    reference: Mapping[str, dict],
    recent: Mapping[str, dict],
    labels: Sequence[str],
    *,
    psi_threshold: float,
    confidence_threshold: float,
    min_docs: int,
) -> list[DriftFinding]:
    """Sources (present in both windows with at least `min_docs` each) past either threshold.

    The summaries are per source {"n", "counts": {label: n}, "mean_confidence"}, as the worker's
    /api/predictions/summary returns them.
    """
    findings = []
    for source in sorted(set(reference) & set(recent)):
        ref, rec = reference[source], recent[source]
        if ref["n"] < min_docs or rec["n"] < min_docs:
            continue
        finding = DriftFinding(
            source=source,
            psi=psi(ref["counts"], rec["counts"], labels),
            confidence_drop=ref["mean_confidence"] - rec["mean_confidence"],
            reference_n=ref["n"],
            recent_n=rec["n"],
        )
        if finding.psi > psi_threshold or finding.confidence_drop > confidence_threshold:
            findings.append(finding)
    return findings

"""The statistical test of one window against its baseline; pure functions over window counts.

Volume-aware: a share is judged with a binomial z-score whose variance includes the baseline's
own uncertainty, a count with a Poisson z-score widened by the baseline's observed spread. So
3 negatives out of 4 documents is not an alarm, 300 out of 400 against a 20% baseline is. An
effect-size guard (min_ratio, min_delta) keeps a tiny but significant drift at high volume from
paging anyone. Windows flagged anomalous never enter later baselines, so a long burst does not
become its own baseline.

The same functions serve the evaluator (streams/alerts/evaluator.py) and bench/alerts.py.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bloomwatch.alerts.rules import Rule

SHARE_FLOOR = 0.01  # a 0% baseline share would make any single negative infinitely significant


@dataclass(frozen=True)
class WindowCount:
    """Exact counts of one group in one window: `n` documents, `x` of them counted by the metric
    (negatives for a share or a negative count; for volume x == n)."""

    start: datetime
    n: int
    x: int


@dataclass(frozen=True)
class Verdict:
    window: WindowCount
    observed: float  # share or count
    baseline: float | None  # None: not enough baseline windows yet
    statistic: float  # z
    anomalous: bool
    calm: bool
    sustained: bool = False  # the CUSUM reached cusum_threshold (with the effect size over its run)


def observed_value(rule: Rule, window: WindowCount) -> float:
    if rule.metric == "negative_share":
        return window.x / window.n if window.n else 0.0
    return float(window.x)


def _baseline(rule: Rule, history: Sequence[WindowCount]) -> tuple[float, float]:
    """(baseline value, its variance) from the baseline windows."""
    if rule.metric == "negative_share":
        if rule.baseline == "median":
            shares = [w.x / w.n for w in history if w.n]
            value = statistics.median(shares) if shares else 0.0
        else:
            total = sum(w.n for w in history)
            value = sum(w.x for w in history) / total if total else 0.0
        return value, 0.0
    counts = [float(w.x) for w in history]
    value = statistics.median(counts) if rule.baseline == "median" else statistics.fmean(counts)
    spread = 1.4826 * statistics.median(abs(c - value) for c in counts)  # MAD as a robust sd
    return value, spread**2


def z_statistic(rule: Rule, window: WindowCount, history: Sequence[WindowCount]) -> tuple[float, float]:
    """(baseline, z) of `window` against `history`."""
    baseline, spread_var = _baseline(rule, history)
    if rule.metric == "negative_share":
        p = min(max(baseline, SHARE_FLOOR), 1 - SHARE_FLOOR)
        pooled_n = sum(w.n for w in history) or 1
        # Var(x - n p_hat) = n p (1-p) + n^2 p (1-p) / N: the baseline is an estimate too
        variance = window.n * p * (1 - p) * (1 + window.n / pooled_n)
        return baseline, (window.x - window.n * p) / math.sqrt(variance) if window.n else 0.0
    rate = max(baseline, 1.0)
    return baseline, (window.x - rate) / math.sqrt(max(rate, spread_var))


def judge(rule: Rule, series: Sequence[WindowCount]) -> list[Verdict]:
    """A verdict for every window of `series` (consecutive windows, oldest first); each window is
    judged against up to `baseline_windows` earlier windows that were not anomalous.

    A group's history starts at its first document: the empty windows before a source (or the
    whole deployment) existed are not a baseline of zero, or every new source would open with a
    volume "spike"."""
    verdicts: list[Verdict] = []
    normal: list[WindowCount] = []
    cusum, run = 0.0, (0, 0, 0)  # the CUSUM and (documents, counted, windows) since it left 0
    for window in series:
        observed = observed_value(rule, window)
        history = normal[-rule.baseline_windows :]
        if not normal and window.n == 0:  # the group has not started yet
            verdicts.append(Verdict(window, observed, None, 0.0, anomalous=False, calm=True))
            continue
        if len(history) < rule.min_baseline_windows:
            verdicts.append(Verdict(window, observed, None, 0.0, anomalous=False, calm=True))
            normal.append(window)
            continue
        baseline, z = z_statistic(rule, window, history)
        sustained = False
        if rule.cusum_threshold is not None and window.n >= rule.min_volume:
            cusum = max(0.0, cusum + z - rule.cusum_slack)
            run = (run[0] + window.n, run[1] + window.x, run[2] + 1) if cusum > 0 else (0, 0, 0)
            run_value = (
                (run[1] / run[0] if run[0] else 0.0) if rule.metric == "negative_share" else run[1] / max(run[2], 1)
            )
            sustained = cusum >= rule.cusum_threshold and _large(rule, run_value, baseline)
        significant = window.n >= rule.min_volume and z >= rule.threshold and _large(rule, observed, baseline)
        anomalous = significant or sustained
        if sustained:  # an alarm restarts the sum: its evidence is spent, and a spike's end is seen at once
            cusum, run = 0.0, (0, 0, 0)
        calm = not anomalous and z < rule.resolve_below
        verdicts.append(Verdict(window, observed, baseline, z, anomalous, calm, sustained))
        if not anomalous:
            normal.append(window)
    return verdicts


def _large(rule: Rule, observed: float, baseline: float) -> bool:
    """The effect-size guard: significance alone is not enough at high volume."""
    return observed >= baseline * rule.min_ratio and observed >= baseline + rule.min_delta

"""pending -> firing -> resolved for one (rule, group), as a pure state machine over verdicts.

Driven window by window, in window order, by the evaluator (state read from and written to the
`alerts` table) and by bench/alerts.py (in memory): the same decisions in both. Time is window
time, never the wall clock, so replaying windows after a restart gives the same answer, and a
window already applied to an alert (`window_end` <= the alert's) is skipped: nothing fires twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bloomwatch.alerts.detector import Verdict
from bloomwatch.alerts.rules import Rule

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"


@dataclass(frozen=True)
class Alert:
    """One alert instance; the fields are the `alerts` table's columns (see store/ddl.sql)."""

    alert_id: str
    rule: str
    group_key: str
    state: str
    severity: str
    window_start: datetime  # the latest window applied
    window_end: datetime
    started_at: datetime  # start of the first anomalous window (the onset)
    updated_at: datetime
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    observed: float = 0.0
    baseline: float = 0.0
    statistic: float = 0.0
    payload: str = "{}"
    fired: bool = False  # reached firing (a pending alert that never did ends resolved, unnotified)
    streak: int = 0  # consecutive anomalous windows (pending) or calm windows (firing); in the payload


@dataclass(frozen=True)
class Transition:
    alert: Alert
    notify: bool  # firing or resolved after firing: a notification goes out


def alert_id(rule: str, group_key: str, onset: datetime) -> str:
    return hashlib.sha256(f"{rule}\x00{group_key}\x00{onset.isoformat()}".encode()).hexdigest()[:16]


def _fires(rule: Rule, verdict: Verdict, streak: int) -> bool:
    immediate = rule.immediate_threshold is not None and verdict.statistic >= rule.immediate_threshold
    return streak >= rule.for_windows or immediate or verdict.sustained


def advance(rule: Rule, group_key: str, current: Alert | None, verdict: Verdict, now: datetime) -> Transition | None:
    """Apply one window's verdict to the group's latest alert (None: never had one).

    Returns the changed alert (to be written) or None when nothing changes.
    """
    start = verdict.window.start
    end = start + timedelta(seconds=rule.window_s)
    if current is not None and end <= current.window_end:
        return None  # already applied (a replay after a restart)
    figures: dict[str, Any] = {
        "observed": verdict.observed,
        "baseline": verdict.baseline or 0.0,
        "statistic": verdict.statistic,
    }
    window: dict[str, Any] = {"window_start": start, "window_end": end, "updated_at": now}
    if current is None or current.state not in (PENDING, FIRING):
        cooled_at = None  # the end of the cooldown after a fired alert resolved
        if current is not None and current.fired and current.resolved_at is not None:
            cooled_at = current.resolved_at + timedelta(seconds=rule.cooldown_s)
        if not verdict.anomalous or (cooled_at is not None and end <= cooled_at):
            return None
        new = Alert(
            alert_id=alert_id(rule.name, group_key, start), rule=rule.name, group_key=group_key, state=PENDING,
            severity=rule.severity, started_at=start, streak=1, **window, **figures,
        )  # fmt: skip
        if _fires(rule, verdict, 1):
            return Transition(replace(new, state=FIRING, fired=True), notify=True)
        return Transition(new, notify=False)
    if current.state == PENDING:
        if not verdict.anomalous:
            return Transition(
                replace(current, state=RESOLVED, resolved_at=end, streak=0, **window, **figures), notify=False
            )
        streak = current.streak + 1
        if _fires(rule, verdict, streak):
            return Transition(replace(current, state=FIRING, fired=True, streak=0, **window, **figures), notify=True)
        return Transition(replace(current, streak=streak, **window, **figures), notify=False)
    # firing: figures of the latest window, resolved after resolve_windows calm windows in a row
    streak = current.streak + 1 if verdict.calm else 0
    if streak >= rule.resolve_windows:
        return Transition(replace(current, state=RESOLVED, resolved_at=end, streak=0, **window, **figures), notify=True)
    return Transition(replace(current, streak=streak, **window, **figures), notify=False)

"""When to retrain: the cron schedule, enough new labels, or drift; checked every `retrain_check_s`.

Drift fires at most once per current model: the run it starts is recorded with the model it
started from (`parent`), and while that model is still current the same drift is not news. A
promotion makes a new model current, whose own predictions become the new reference.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from bloomwatch.setting_groups import RetrainSettings
from bloomwatch.tasks import labels_for
from training.registry import Registry
from training.retrain.drift import find_drift
from training.retrain.job import labels_since_last_run, other_line_models, run_retrain, trainable_labels
from training.retrain.source import RetrainSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trigger:
    name: str  # schedule | labels | drift
    detail: str


def cron_due(expression: str, last_check: datetime, now: datetime) -> bool:
    """True when a scheduled time fell in (last_check, now]."""
    return croniter(expression, last_check).get_next(datetime) <= now


def drift_trigger(
    task: str, settings: RetrainSettings, source: RetrainSource, registry: Registry, now: datetime
) -> Trigger | None:
    current = registry.current(task)
    if current is None:
        return None
    if any(d["trigger"] == "drift" and d["parent"] == current.version for d in source.decisions(task)):
        return None  # already fired for this model
    window = timedelta(minutes=settings.retrain_drift_window_min)
    recent_since = now - window
    reference_since = recent_since - timedelta(minutes=settings.retrain_drift_reference_min)
    reference = source.prediction_summary(task, current.name, reference_since, recent_since)
    recent = source.prediction_summary(task, current.name, recent_since, now)
    findings = find_drift(
        reference,
        recent,
        labels_for(task),
        psi_threshold=settings.retrain_drift_psi,
        confidence_threshold=settings.retrain_drift_confidence,
        min_docs=settings.retrain_drift_min_docs,
    )
    return Trigger("drift", "; ".join(f.describe() for f in findings)) if findings else None


def due_trigger(
    task: str,
    settings: RetrainSettings,
    source: RetrainSource,
    registry: Registry,
    *,
    last_check: datetime,
    now: datetime,
) -> Trigger | None:
    """The first trigger that holds: schedule, then new labels, then drift."""
    if cron_due(settings.retrain_cron, last_check, now):
        return Trigger("schedule", f"cron {settings.retrain_cron!r}")
    trainable = trainable_labels(source.labels(task), other_line_models(registry, task))
    new = labels_since_last_run(len(trainable), source.decisions(task))
    if new >= settings.retrain_min_new_labels:
        return Trigger("labels", f"{new} new labels (threshold {settings.retrain_min_new_labels})")
    return drift_trigger(task, settings, source, registry, now)


def check_once(
    tasks: tuple[str, ...], settings: RetrainSettings, source: RetrainSource, registry: Registry, last_check: datetime
) -> datetime:
    """Check every task's triggers and run what is due; returns the time of this check."""
    now = datetime.now(UTC)
    for task in tasks:
        trigger = due_trigger(task, settings, source, registry, last_check=last_check, now=now)
        if trigger is not None:
            log.info("retrain %s: %s trigger (%s)", task, trigger.name, trigger.detail)
            run_retrain(task, trigger.name, settings=settings, source=source, registry=registry, detail=trigger.detail)
    return now


def run_schedule(tasks: tuple[str, ...], settings: RetrainSettings, source: RetrainSource, registry: Registry) -> None:
    """Forever: check, sleep; an unreachable worker or ClickHouse, or a failing check, is logged and retried."""
    last_check = datetime.now(UTC)
    while True:
        try:
            last_check = check_once(tasks, settings, source, registry, last_check)
        except Exception:
            log.exception("retrain schedule check failed; next check in %.0fs", settings.retrain_check_s)
        time.sleep(settings.retrain_check_s)

"""The evaluator: every `alerts_interval_s`, judge each rule's newly closed windows and apply the
verdicts to the alerts' lifecycle; notify on firing and on resolve.

Exactly one evaluator per store: in embedded mode (chdb://) a timer in the worker that owns it
(app/worker_app.py), with a ClickHouse server `bloomwatch alerts run` (settings.alerts_evaluator).

When a window is judged: once `alerts_grace_s` have passed since it closed and the stored data
reaches past it (the newest `enqueued_at` is after its end), or at the latest `alerts_max_lateness_s`
after it closed (a source gone quiet). A document stored after its window was judged still counts
in later baselines, but the judged window is not judged again.

Store calls: a round is many short store calls (one query each), never one long one, because in
the worker they share the store thread with the batch inserts: a round over thirty firing alerts
would otherwise hold every insert behind it for seconds. Between two calls an API acknowledgement
may land; the final write of a rule's alerts keeps it (`AlertStore.write_keeping_acks`).

Restarts: the lifecycle lives in the `alerts` table and windows already applied to an alert are
skipped (bloomwatch/alerts/lifecycle.py), so the evaluator simply replays the last
`alerts_catchup_s` of windows at start: a firing alert is neither fired again nor forgotten, and
windows closed while the worker was down are judged once it is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from prometheus_client import Counter

from bloomwatch.alerts import windows
from bloomwatch.alerts.detector import Verdict, judge
from bloomwatch.alerts.lifecycle import FIRING, RESOLVED, Alert, advance
from bloomwatch.alerts.rules import Rule, RuleSet
from bloomwatch.setting_groups import AlertSettings
from store import alert_windows
from store.alerts import AlertStore, is_active, silenced
from store.connect import StoreClient
from store.executor import StoreThread
from streams import metrics
from streams.alerts import terms as term_stats
from streams.alerts.notify import Notifier

log = logging.getLogger("bloomwatch.alerts")

EVALUATION_FAILURES = Counter(
    "bloomwatch_alert_evaluation_failures",
    "Alert rules or groups whose evaluation failed in a round",
    ["rule"],
    registry=metrics.REGISTRY,
)


class AlertEvaluator:
    def __init__(
        self, alerts: AlertSettings, rules: RuleSet, client: StoreClient, store_thread: StoreThread, notifier: Notifier
    ):
        self.settings = alerts
        self.rules = rules
        self.client = client
        self.store = AlertStore(client)
        self.store_thread = store_thread
        self.notifier = notifier  # closed with the evaluator
        self.evaluated_through: dict[str, datetime] = {}

    async def tick(self) -> None:
        """One evaluation round; an error is logged and the next round tries again."""
        try:
            notifications = await self.step(datetime.now(UTC))
        except Exception:
            log.exception("alert evaluation failed")
            return
        for rule, payload in notifications:
            await self.notifier.send(payload, rule.receivers)

    async def run_forever(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.alerts_interval_s)

    async def close(self) -> None:
        await self.notifier.close()

    async def step(self, now: datetime) -> list[tuple[Rule, dict[str, Any]]]:
        """Judge what is ready, write the alerts that changed; the notifications to send.

        A failure is confined to its rule (or, inside a rule, to its group): data any publisher
        controls (a source name, the words of its texts) must never stop the other rules' alerts."""
        latest = await self.store_thread.run(alert_windows.latest_enqueued, self.client)
        silences = await self.store_thread.run(self.store.active_silences, now)
        notifications = []
        for rule in self.rules.rules:
            try:
                notifications += await self._step_rule(rule, now, latest, silences)
            except Exception:
                EVALUATION_FAILURES.labels(rule.name).inc()
                log.exception("alert rule %s failed this round; the other rules go on", rule.name)
        return notifications

    def _ready_end(self, rule: Rule, now: datetime, latest: datetime | None) -> datetime:
        """The end of the newest window that may be judged now."""
        closed = windows.floor_window(rule, now - timedelta(seconds=self.settings.alerts_grace_s))
        overdue = windows.floor_window(rule, now - timedelta(seconds=self.settings.alerts_max_lateness_s))
        reached = windows.floor_window(rule, latest) if latest is not None else overdue
        return min(closed, max(reached, overdue))

    async def _step_rule(self, rule: Rule, now: datetime, latest: datetime | None, silences) -> list[tuple[Rule, dict]]:
        ready = self._ready_end(rule, now, latest)
        through = self.evaluated_through.get(rule.name) or windows.floor_window(
            rule, now - timedelta(seconds=self.settings.alerts_catchup_s)
        )
        if ready <= through:
            return []
        width = timedelta(seconds=rule.window_s)
        history_start = through - width * (rule.baseline_windows + rule.for_windows)
        current = await self.store_thread.run(self.store.latest_by_group, rule.name)
        active = [key for key, alert in current.items() if is_active(alert)]
        series = await self.store_thread.run(
            alert_windows.window_counts, self.client, rule, history_start, ready, self.settings.alerts_max_age_s, active
        )
        changed: list[Alert] = []
        notifications = []
        for key, counts in series.items():
            try:
                group_changed, group_notifications = await self._step_group(
                    rule, key, counts, current.get(key), through, now, silences
                )
            except Exception:
                EVALUATION_FAILURES.labels(rule.name).inc()
                log.exception(
                    "alert rule %s group %r failed; its windows up to %s are skipped", rule.name, key, _iso(ready)
                )
                continue
            changed += group_changed
            notifications += group_notifications
        await self.store_thread.run(self.store.write_keeping_acks, changed)
        self.evaluated_through[rule.name] = ready
        return notifications

    async def _step_group(
        self, rule: Rule, key: str, counts, alert: Alert | None, through: datetime, now: datetime, silences
    ) -> tuple[list[Alert], list[tuple[Rule, dict]]]:
        """Apply the group's newly judged windows to its latest alert: (alerts to write, notifications)."""
        changed: dict[str, Alert] = {}
        notifications = []
        for verdict in judge(rule, counts):
            if verdict.window.start < through:
                continue
            transition = advance(rule, key, alert, verdict, now)
            if transition is None:
                continue
            alert = await self._with_payload(rule, transition.alert, alert, verdict)
            changed[alert.alert_id] = alert
            if transition.notify:
                payload = json.loads(alert.payload)
                if silenced(alert, silences):
                    log.info("alert %s %s %s is silenced", alert.state, rule.name, key)
                else:
                    notifications.append((rule, payload))
        return list(changed.values()), notifications

    async def _with_payload(self, rule: Rule, alert: Alert, previous: Alert | None, verdict: Verdict) -> Alert:
        """The alert with its JSON payload: figures of the latest window, and the evidence
        (examples, terms) gathered once, when it fires, and kept after."""
        kept = json.loads(previous.payload) if previous is not None and previous.alert_id == alert.alert_id else {}
        group = windows.parse_group_key(alert.group_key)
        payload = {
            **kept,
            "alert_id": alert.alert_id,
            "status": alert.state,
            "rule": rule.name,
            "description": rule.description,
            "group_key": alert.group_key,
            "group": group,
            "severity": rule.severity,
            "metric": rule.metric,
            "window_s": rule.window_s,
            "window_start": _iso(alert.window_start),
            "window_end": _iso(alert.window_end),
            "started_at": _iso(alert.started_at),
            "resolved_at": _iso(alert.resolved_at) if alert.resolved_at else None,
            "observed": alert.observed,
            "baseline": alert.baseline,
            "statistic": round(alert.statistic, 3),
            "documents": verdict.window.n,  # in the latest window
            "counted": verdict.window.x,  # negatives (share, count) or documents (volume)
            "streak": alert.streak,
            "dashboard_url": self._dashboard_url(rule, group, alert),
        }
        if alert.state == FIRING and "examples" not in kept:
            payload |= await self._evidence(rule, group, alert)
        if alert.state == RESOLVED and not alert.fired:
            payload["status"] = "resolved_without_firing"
        return replace(alert, payload=json.dumps(payload, default=str))

    async def _evidence(self, rule: Rule, group: dict[str, str], alert: Alert) -> dict[str, Any]:
        max_age = self.settings.alerts_max_age_s
        start, end = alert.started_at, alert.window_end
        baseline_start = start - timedelta(seconds=rule.window_s * rule.baseline_windows)
        focus = await self.store_thread.run(
            partial(alert_windows.texts, negative_only=rule.metric != "volume", limit=2000),
            self.client,
            rule,
            group,
            start,
            end,
            max_age,
        )
        background = await self.store_thread.run(
            partial(alert_windows.texts, negative_only=False, limit=10000),
            self.client,
            rule,
            group,
            baseline_start,
            start,
            max_age,
        )
        terms = term_stats.over_represented(term_stats.word_counts(focus), term_stats.word_counts(background))
        return {
            "examples": await self.store_thread.run(
                alert_windows.examples, self.client, rule, group, start, end, max_age
            ),
            "terms": terms,
            "evidence_documents": len(focus),
            "baseline_documents": len(background),
        }

    def _dashboard_url(self, rule: Rule, group: dict[str, str], alert: Alert) -> str:
        context = timedelta(seconds=rule.window_s * min(rule.baseline_windows, 10))
        query = {**group, "from": _iso(alert.started_at - context), "to": _iso(alert.window_end)}
        return f"{self.settings.link_base}/dashboard?{urlencode(query)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

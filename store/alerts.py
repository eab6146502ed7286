"""The `alerts` and `alert_silences` tables (store/ddl.sql): the lifecycle's memory.

Each change of an alert is a new row version (ReplacingMergeTree keeps the latest `updated_at`);
reads use FINAL. Everything here is synchronous: in the worker each call runs on the store thread,
so one call never interleaves with another; an evaluator round is many calls, and its final write
keeps an acknowledgement that landed in between (`write_keeping_acks`).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from bloomwatch.alerts.lifecycle import FIRING, PENDING, Alert
from store.connect import StoreClient
from store.documents import INSERT_SETTINGS
from store.tables import ALERT_SILENCES, ALERTS

COLUMNS = tuple(f.name for f in fields(Alert) if f.name != "streak")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {ALERTS} FINAL"


@overload
def _utc(moment: datetime) -> datetime: ...
@overload
def _utc(moment: None) -> None: ...
def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _alert(row: Sequence[Any]) -> Alert:
    values = dict(zip(COLUMNS, row, strict=True))
    for key in ("window_start", "window_end", "started_at", "updated_at", "resolved_at"):
        values[key] = _utc(values[key])
    values["fired"] = bool(values["fired"])
    return Alert(**values, streak=int(json.loads(values["payload"] or "{}").get("streak", 0)))


class AlertStore:
    def __init__(self, client: StoreClient):
        self.client = client

    def write(self, alerts: list[Alert]) -> None:
        if alerts:
            rows = [[asdict(alert)[column] for column in COLUMNS] for alert in alerts]
            self.client.insert(ALERTS, rows, column_names=list(COLUMNS), settings=INSERT_SETTINGS)

    def write_keeping_acks(self, alerts: list[Alert]) -> None:
        """Write alerts computed from an earlier read, keeping an acknowledgement written since
        (and ordering the new version after it: the newest `updated_at` is the one kept)."""
        if not alerts:
            return
        acks = {
            alert_id: (by, _utc(updated_at))
            for alert_id, by, updated_at in self.client.query(
                f"SELECT alert_id, acknowledged_by, updated_at FROM {ALERTS} FINAL"
                " WHERE alert_id IN {ids:Array(String)} AND acknowledged_by IS NOT NULL",
                parameters={"ids": [alert.alert_id for alert in alerts]},
            ).result_rows
        }
        merged = []
        for alert in alerts:
            if alert.alert_id in acks and alert.acknowledged_by is None:
                by, acked_at = acks[alert.alert_id]
                alert = replace(
                    alert, acknowledged_by=by, updated_at=max(alert.updated_at, acked_at + timedelta(milliseconds=1))
                )
            merged.append(alert)
        self.write(merged)

    def latest_by_group(self, rule: str) -> dict[str, Alert]:
        """Each group's most recent alert of `rule` (active or the last resolved one)."""
        rows = self.client.query(
            f"{_SELECT} WHERE rule = {{rule:String}} ORDER BY window_end DESC, updated_at DESC LIMIT 1 BY group_key",
            parameters={"rule": rule},
        ).result_rows
        return {alert.group_key: alert for alert in map(_alert, rows)}

    def list(self, state: str | None = None, limit: int = 100) -> list[Alert]:
        where = "WHERE state = {state:String}" if state else ""
        rows = self.client.query(
            f"{_SELECT} {where} ORDER BY updated_at DESC LIMIT {int(limit)}", parameters={"state": state or ""}
        ).result_rows
        return [_alert(row) for row in rows]

    def get(self, alert_id: str) -> Alert | None:
        rows = self.client.query(f"{_SELECT} WHERE alert_id = {{id:String}}", parameters={"id": alert_id}).result_rows
        return _alert(rows[0]) if rows else None

    def acknowledge(self, alert_id: str, by: str) -> Alert | None:
        alert = self.get(alert_id)
        if alert is None:
            return None
        acked = replace(
            alert, acknowledged_by=by, updated_at=max(datetime.now(UTC), alert.updated_at + timedelta(milliseconds=1))
        )
        self.write([acked])
        return acked

    def silence(self, rule: str, group_key: str, duration_s: float, by: str, comment: str = "") -> dict[str, Any]:
        now = datetime.now(UTC)
        silence = {
            "silence_id": uuid.uuid4().hex[:16], "rule": rule, "group_key": group_key, "starts_at": now,
            "ends_at": now + timedelta(seconds=duration_s), "created_by": by, "comment": comment, "created_at": now,
        }  # fmt: skip
        self.client.insert(
            ALERT_SILENCES, [list(silence.values())], column_names=list(silence), settings=INSERT_SETTINGS
        )
        return silence

    def active_silences(self, now: datetime) -> builtins.list[dict[str, Any]]:  # `list` here is AlertStore.list
        """The silences in force at `now`, times in UTC (chDB returns them without a time zone)."""
        result = self.client.query(
            f"SELECT silence_id, rule, group_key, starts_at, ends_at, created_by, comment FROM {ALERT_SILENCES} FINAL"
            " WHERE starts_at <= {now:DateTime64(3, 'UTC')} AND ends_at > {now:DateTime64(3, 'UTC')}",
            parameters={"now": now},
        )
        rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        return [{**row, "starts_at": _utc(row["starts_at"]), "ends_at": _utc(row["ends_at"])} for row in rows]

    def end_silence(self, silence_id: str, by: str) -> dict[str, Any] | None:
        """End an active silence now; None if there is none with this id. A new row version with
        `ends_at` now (ReplacingMergeTree keeps the latest `created_at`): who made the silence and
        why stay, `comment` adds who ended it."""
        now = datetime.now(UTC)
        silence = next((s for s in self.active_silences(now) if s["silence_id"] == silence_id), None)
        if silence is None:
            return None
        comment = "; ".join(part for part in (silence["comment"], f"ended by {by}") if part)
        ended = {**silence, "ends_at": now, "comment": comment, "created_at": now}
        self.client.insert(ALERT_SILENCES, [list(ended.values())], column_names=list(ended), settings=INSERT_SETTINGS)
        return ended


def silenced(alert: Alert, silences: list[dict[str, Any]]) -> bool:
    return any(s["rule"] == alert.rule and s["group_key"] in ("", alert.group_key) for s in silences)


def is_active(alert: Alert) -> bool:
    return alert.state in (PENDING, FIRING)


def alert_json(alert: Alert) -> dict[str, Any]:
    """The API/CLI form of an alert: columns, ISO times, payload parsed."""
    data = {column: getattr(alert, column) for column in COLUMNS}
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["payload"] = json.loads(alert.payload or "{}")
    return data

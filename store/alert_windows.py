"""The alerts' queries over `documents`: exact window counts and the evidence of one window.

Every read of `documents` uses FINAL: the kill -9 tests re-deliver thousands of documents that
collapse only there, and a re-delivered document must never count twice in a window.

Time base: windows are cut on `enqueued_at` (the Kafka record time, when the document entered the
pipeline), not on `published_at`. A document published long before it was enqueued (a backfill,
an archive import: `published_at` older than `max_age_s` before `enqueued_at`) is not counted at
all, so a backfill neither fires alerts for the past nor shows up as a volume spike now.

The negative_* metrics count the watched label of the watched task (bloomwatch/tasks.py: the
sentiment task's "negative") on that task's label column, among the documents that task scored:
a document no model of the task can read (bloomwatch.tasks.Unscored) is in no share. A volume
rule counts every document, scored or not: a burst in a language no model reads is still a burst.
Grouping or scoping by a task's label likewise reads only the documents that task scored. The
dimensions are rules.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bloomwatch.alerts.detector import WindowCount
from bloomwatch.alerts.rules import Rule, dimension_columns
from bloomwatch.alerts.windows import group_key, window_starts
from bloomwatch.tasks import task_names, tasks, watched_task
from bloomwatch.timestamps import as_utc
from store.connect import StoreClient
from store.documents import scored
from store.tables import DOCUMENTS


def _filters(rule: Rule, max_age_s: float, group: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    columns = dimension_columns()
    clauses = ["published_at >= enqueued_at - toIntervalMillisecond({max_age_ms:UInt64})"]
    parameters: dict[str, Any] = {"max_age_ms": int(max_age_s * 1000)}
    label_dimensions = {*rule.scope.filters(), *rule.group_by} & set(task_names())
    scored_by = {watched_task().name} if rule.metric != "volume" else set()
    clauses += [scored(t) for t in tasks() if t.name in label_dimensions | scored_by]
    for dimension, values in rule.scope.filters().items():
        clauses.append(f"{columns[dimension]} IN {{scope_{dimension}:Array(String)}}")
        parameters[f"scope_{dimension}"] = values
    for dimension, value in (group or {}).items():
        clauses.append(f"{columns[dimension]} = {{group_{dimension}:String}}")
        parameters[f"group_{dimension}"] = value
    return " AND ".join(clauses), parameters


def _is_watched() -> str:
    """The SQL condition of a document the negative_* metrics count. Task names and labels are
    lower-case identifiers (bloomwatch/tasks.py checks them), so both are written into the SQL."""
    watched = watched_task()
    return f"{watched.name} = '{watched.watched_label}'"


def window_counts(
    client: StoreClient, rule: Rule, first: datetime, end: datetime, max_age_s: float, groups: Sequence[str] = ()
) -> dict[str, list[WindowCount]]:
    """Per group, the counts of every window from `first` (a window start) up to `end`, oldest
    first; windows without documents are zeros. `groups` are included even without documents."""
    width_ms = rule.window_s * 1000
    where, parameters = _filters(rule, max_age_s)
    columns = dimension_columns()
    dims = ", ".join(columns[d] for d in rule.group_by)
    counted = f"countIf({_is_watched()})" if rule.metric != "volume" else "count()"
    rows = client.query(
        f"SELECT intDiv(toUnixTimestamp64Milli(enqueued_at), {width_ms}) AS w, count(), {counted}"
        f"{', ' + dims if dims else ''}"
        f" FROM {DOCUMENTS} FINAL WHERE enqueued_at >= {{first:DateTime64(3, 'UTC')}}"
        f" AND enqueued_at < {{end:DateTime64(3, 'UTC')}} AND {where}"
        f" GROUP BY w{', ' + dims if dims else ''}",
        parameters={**parameters, "first": first, "end": end},
    ).result_rows
    starts = window_starts(rule, first, end)
    by_group: dict[str, dict[datetime, tuple[int, int]]] = {key: {} for key in groups}
    for w, n, x, *values in rows:
        start = datetime.fromtimestamp(w * rule.window_s, UTC)
        by_group.setdefault(group_key(rule.group_by, values), {})[start] = (int(n), int(x))
    if not rule.group_by:
        by_group.setdefault("", {})
    return {
        key: [WindowCount(start, *counts.get(start, (0, 0))) for start in starts] for key, counts in by_group.items()
    }


def latest_enqueued(client: StoreClient) -> datetime | None:
    """How far the stored data reaches in Kafka time (duplicates do not change a max)."""
    value = client.query(f"SELECT max(enqueued_at), count() FROM {DOCUMENTS}").result_rows[0]
    return as_utc(value[0]) if value[1] else None


def examples(
    client: StoreClient,
    rule: Rule,
    group: dict[str, str],
    start: datetime,
    end: datetime,
    max_age_s: float,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The window's most negative documents (the most recent ones for a volume rule): id, snippet,
    probability (of the watched label), source, kind, the label of every other task, published_at."""
    watched = watched_task()
    probability = watched.probability_column(str(watched.watched_label))  # the watched task has one
    other_tasks = [t.name for t in tasks() if t.name != watched.name]
    where, parameters = _filters(rule, max_age_s, group)
    if rule.metric != "volume":
        where += f" AND {_is_watched()}"
    order = f"{probability} DESC" if rule.metric != "volume" else "enqueued_at DESC"
    keys = ("id", "snippet", "probability", "source", "kind", *other_tasks, "published_at")
    selected = ("id", "substring(text, 1, 280)", probability, "source", "kind", *other_tasks, "published_at")
    rows = client.query(
        f"SELECT {', '.join(selected)}"
        f" FROM {DOCUMENTS} FINAL WHERE enqueued_at >= {{start:DateTime64(3, 'UTC')}}"
        f" AND enqueued_at < {{end:DateTime64(3, 'UTC')}} AND {where} ORDER BY {order} LIMIT {int(limit)}",
        parameters={**parameters, "start": start, "end": end},
    ).result_rows
    return [
        {
            **dict(zip(keys, row, strict=True)),
            "probability": round(float(row[2]), 4),
            "published_at": as_utc(row[-1]).isoformat(),
        }
        for row in rows
    ]


def texts(
    client: StoreClient, rule: Rule, group: dict[str, str], start: datetime, end: datetime, max_age_s: float,
    *, negative_only: bool, limit: int,
) -> list[tuple[str, str]]:  # fmt: skip
    """(text, language read from it) of the group's documents in the window: the evidence's words,
    each text's stop words dropped by its language (streams/alerts/terms.py)."""
    where, parameters = _filters(rule, max_age_s, group)
    if negative_only:
        where += f" AND {_is_watched()}"
    rows = client.query(
        f"SELECT text, detected_lang FROM {DOCUMENTS} FINAL WHERE enqueued_at >= {{start:DateTime64(3, 'UTC')}}"
        f" AND enqueued_at < {{end:DateTime64(3, 'UTC')}} AND {where} LIMIT {int(limit)}",
        parameters={**parameters, "start": start, "end": end},
    ).result_rows
    return [(text, lang) for text, lang in rows]

"""Alert windows and groups: where a rule's windows start, and the key of a group.

A group's key (`source=acme-bank`) is what the `alerts` table, the API, `bloomwatch alerts
silence` and the dashboard link carry; the windows' counts and evidence are read from the store
(store/alert_windows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from bloomwatch.alerts.rules import Rule, dimension_columns


def group_key(dimensions: Sequence[str], values: Sequence[Any]) -> str:
    """`source=acme-bank` (dimensions joined by ','); '' for an ungrouped rule.

    Values are percent-encoded (RFC 3986: letters, digits and `-._~` stay as they are), so a
    source named `evil,x` or `a=b` cannot forge a second dimension or break `parse_group_key`,
    while the keys of ordinary names stay readable, e.g. for `bloomwatch alerts silence`."""
    return ",".join(f"{d}={quote(str(v), safe='')}" for d, v in zip(dimensions, values, strict=True))


class BadGroupKey(ValueError):
    pass


def parse_group_key(key: str) -> dict[str, str]:
    """The dimensions of a `group_key` (values decoded); BadGroupKey names what is wrong."""
    if not key:
        return {}
    group = {}
    known = dimension_columns()
    for part in key.split(","):
        dimension, sep, value = part.partition("=")
        if not sep or dimension not in known or dimension in group:
            raise BadGroupKey(f"{key!r}: expected DIMENSION=VALUE[,DIMENSION=VALUE], dimensions {', '.join(known)}")
        group[dimension] = unquote(value)
    return group


def canonical_group_key(key: str, dimensions: Sequence[str]) -> str:
    """A group as a person types it (`source=shop south`) or copies it from an alert
    (`source=shop%20south`), in the form the evaluator writes; BadGroupKey unless it names
    exactly the rule's dimensions, so a silence can never miss its group by a typo."""
    group = parse_group_key(key)
    if key and sorted(group) != sorted(dimensions):
        raise BadGroupKey(
            f"{key!r}: this rule's groups are {','.join(f'{d}=VALUE' for d in dimensions) or 'none (silence the rule)'}"
        )
    return group_key(dimensions, [group[d] for d in dimensions]) if key else ""


def window_starts(rule: Rule, first: datetime, end: datetime) -> list[datetime]:
    step = timedelta(seconds=rule.window_s)
    starts, start = [], first
    while start + step <= end:
        starts.append(start)
        start += step
    return starts


def floor_window(rule: Rule, moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // rule.window_s * rule.window_s
    return datetime.fromtimestamp(seconds, UTC)

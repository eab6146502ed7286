"""What Grafana and the ClickHouse plugin send for a panel: the template engine's formatters,
reimplemented exactly (Grafana's formatRegistry, `${name:format}`), and the plugin's macros.

Exact, not convenient: the injection tests run the result on chDB, so a formatter that escaped more
than Grafana's would hide the very bug they look for. `singlequote` and `sqlstring` are kept
although no panel may use them: they show that the tests catch what the audit found.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

ALL = "$__all"  # the value Grafana stores while "All" is selected


def _strict(value: str) -> str:
    """JavaScript's encodeURIComponent plus Grafana's escaping of !'()*: encodeURIComponentStrict."""
    return quote(value, safe="-_.~")


def _each(value: str | list[str], one, join: str) -> str:
    return join.join(one(v) for v in value) if isinstance(value, list) else one(value)


FORMATTERS = {
    # '\'' for each quote, nothing for a backslash: Grafana's VariableFormatID.SingleQuote
    "singlequote": lambda value: _each(value, lambda v: "'" + v.replace("'", "\\'") + "'", ","),
    "sqlstring": lambda value: _each(value, lambda v: "'" + v.replace("'", "''") + "'", ","),
    "percentencode": lambda value: _strict("{" + ",".join(value) + "}") if isinstance(value, list) else _strict(value),
}


def interpolate(
    sql: str, values: dict[str, str | list[str]], options: dict[str, list[str]], all_values: dict[str, str]
) -> str:
    """`${name:format}` replaced as Grafana does. A value of ALL becomes the variable's custom all
    value (formatted only by percentencode and text, as Grafana does) or else every option."""

    def replace(match: re.Match) -> str:
        name, fmt = match[1], match[2]
        value = values[name]
        if value == ALL:
            if name in all_values:
                return FORMATTERS[fmt](all_values[name]) if fmt == "percentencode" else all_values[name]
            value = options[name]
        return FORMATTERS[fmt](value)

    return re.sub(r"\$\{(\w+):(\w+)\}", replace, sql)


def expand_macros(sql: str, *, start: datetime, end: datetime, interval_s: int) -> str:
    """The ClickHouse plugin's macros the panels use."""
    sql = sql.replace("$__fromTime_ms", f"fromUnixTimestamp64Milli({int(start.timestamp() * 1000)})")
    sql = sql.replace("$__toTime_ms", f"fromUnixTimestamp64Milli({int(end.timestamp() * 1000)})")
    return sql.replace("$__interval_s", str(interval_s))


def expand_grafana_macros(
    sql: str, *, start: datetime, end: datetime, interval_s: int, values: dict[str, list[str]], q: str
) -> str:
    """A panel's SQL as sent for concrete choices (every filter explicit, no "All")."""
    sql = interpolate(expand_macros(sql, start=start, end=end, interval_s=interval_s), {**values, "q": q}, {}, {})
    assert "$" not in sql, sql
    return sql

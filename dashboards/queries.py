"""Every dashboard panel's SQL, written once and rendered for two front ends.

A panel is a function of a `Dialect`: the built-in dashboard renders it with ClickHouse server-side
parameters (`{from:DateTime64(3, 'UTC')}`, `{source:Array(String)}`: values never enter the SQL
text), Grafana renders it with the ClickHouse plugin's macros and template variables
(`$__fromTime`, `${source:percentencode}` decoded in the SQL: see GRAFANA). Both read
`documents FINAL`, so a document re-delivered after a crash is counted once, and both show the
same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from training.labels import TASK_LABELS

# Filterable dimensions -> the SQL expression each filters (documents table).
DIMENSIONS: dict[str, str] = {
    "source": "source",
    "kind": "kind",
    "topic": "topic",
    "lang": "detected_lang",  # read from the text (streams/language.py); 'und' (BCP 47 "undetermined") when unsure
    "sentiment": "sentiment",
}
# Values fixed by the schemas; `source` and `lang` come from the data.
FIXED_VALUES: dict[str, tuple[str, ...]] = {
    "kind": ("news", "review"),
    "topic": TASK_LABELS["topic"],
    "sentiment": TASK_LABELS["sentiment"],
}
BASELINE_WINDOWS = 12  # the negative-share baseline is the pooled share of this many previous windows
TOP_NEGATIVE_LIMIT = 20
ALERTS_LIMIT = 100


@dataclass(frozen=True)
class Dialect:
    """How a panel's variable parts are spelled: time range, bucket width, filters, search, paging."""

    start: str
    end: str
    bucket_s: str
    in_filter: Callable[[str, str], str]  # (dimension, SQL expression) -> boolean SQL
    search: str  # boolean SQL: the text search matches (or is empty)
    limit: str
    offset: str

    def dims(self) -> str:
        return " AND ".join(self.in_filter(name, expr) for name, expr in DIMENSIONS.items())

    def bucket(self, column: str) -> str:
        # on DateTime (seconds), not DateTime64: measurably cheaper over a million rows
        return f"toStartOfInterval(toDateTime({column}), toIntervalSecond({self.bucket_s}))"


def _param_in(name: str, expr: str) -> str:
    # IN, not has(): has(Array(String), <Enum8 column>) is silently false for every row
    return f"(empty({{{name}:Array(String)}}) OR {expr} IN {{{name}:Array(String)}})"


PARAMETERS = Dialect(
    start="{from:DateTime64(3, 'UTC')}",
    end="{to:DateTime64(3, 'UTC')}",
    bucket_s="{bucket_s:UInt32}",
    in_filter=_param_in,
    search="({q:String} = '' OR positionCaseInsensitiveUTF8(text, {q:String}) > 0)",
    limit="{limit:UInt32}",
    offset="{offset:UInt32}",
)

# Grafana's quoting formatters cannot carry a value into ClickHouse SQL: `singlequote` and
# `sqlstring` leave backslashes alone, and ClickHouse reads `\'` inside '...' as an escaped quote,
# so a stored source or a `var-q` link breaks out of the string (issue 25). `percentencode` is the
# one formatter whose output is only [A-Za-z0-9-_.~%] whatever the value: it cannot end a string
# literal, and ClickHouse's decodeURLComponent restores the exact value. A multi-value variable
# arrives as "{a,b}"; a chosen value holding a comma is split there (it selects its pieces, which
# the viewer may see anyway, never another table). "All" arrives as GRAFANA_ALL, the variables'
# custom all value.
GRAFANA_ALL = "*"


def _grafana_value(name: str) -> str:
    """A Grafana variable's value as a ClickHouse String expression that no value can escape."""
    return f"decodeURLComponent('${{{name}:percentencode}}')"


def _grafana_in(name: str, expr: str) -> str:
    value = _grafana_value(name)
    chosen = (
        f"if(startsWith({value}, '{{') AND endsWith({value}, '}}'), "
        f"splitByChar(',', substring({value}, 2, length({value}) - 2)), [{value}])"
    )
    return f"({value} = '{GRAFANA_ALL}' OR {expr} IN {chosen})"


GRAFANA = Dialect(
    start="$__fromTime_ms",  # the plugin expands it to fromUnixTimestamp64Milli(<ms>)
    end="$__toTime_ms",
    bucket_s="greatest($__interval_s, 10)",
    in_filter=_grafana_in,
    search=f"({_grafana_value('q')} = '' OR positionCaseInsensitiveUTF8(text, {_grafana_value('q')}) > 0)",
    limit="100",
    offset="0",
)


def _in_range(d: Dialect, column: str = "published_at") -> str:
    return f"{column} >= {d.start} AND {column} < {d.end}"


def totals(d: Dialect) -> str:
    return f"""
SELECT count() AS documents, countIf(sentiment = 'negative') AS negative,
       if(documents = 0, NULL, negative / documents) AS negative_share,
       length(groupUniqArray(source)) AS sources  -- exact; uniqExact(source) was 3x slower here
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}"""


def volume(d: Dialect) -> str:
    """Documents per bucket by kind and source."""
    return f"""
SELECT {d.bucket("published_at")} AS t, kind, source, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY t, kind, source ORDER BY t, kind, source"""


def _sentiment_share(d: Dialect, group: str) -> str:
    return f"""
SELECT {d.bucket("published_at")} AS t, {group} AS grp, sentiment, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY t, grp, sentiment ORDER BY t, grp, sentiment"""


def sentiment_by_source(d: Dialect) -> str:
    return _sentiment_share(d, "source")


def sentiment_by_topic(d: Dialect) -> str:
    return _sentiment_share(d, "topic")


def negative_share(d: Dialect) -> str:
    """Negative share per bucket with its baseline band: the pooled share of the previous
    BASELINE_WINDOWS buckets, +- 2 binomial standard deviations at this bucket's size."""
    k = BASELINE_WINDOWS
    return f"""
SELECT t, documents, negative, negative / documents AS share, baseline,
       greatest(0, baseline - 2 * sqrt(baseline * (1 - baseline) / documents)) AS band_low,
       least(1, baseline + 2 * sqrt(baseline * (1 - baseline) / documents)) AS band_high
FROM (
    SELECT t, documents, negative,
           sum(negative) OVER w / nullIf(sum(documents) OVER w, 0) AS baseline
    FROM (
        SELECT {d.bucket("published_at")} AS t, count() AS documents, countIf(sentiment = 'negative') AS negative
        FROM documents FINAL
        WHERE published_at >= {d.start} - toIntervalSecond({d.bucket_s} * {k}) AND published_at < {d.end}
          AND {d.dims()}
        GROUP BY t
    )
    WINDOW w AS (ORDER BY t ROWS BETWEEN {k} PRECEDING AND 1 PRECEDING)
)
WHERE t >= {d.bucket(d.start)}
ORDER BY t"""


def topic_mix(d: Dialect) -> str:
    return f"""
SELECT topic, count() AS documents, countIf(sentiment = 'negative') / documents AS negative_share
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY topic ORDER BY documents DESC"""


_DOCUMENT_COLUMNS = """id, published_at, source, kind, topic, detected_lang AS lang, sentiment,
       sentiment_negative, sentiment_model, topic_model, substring(text, 1, 280) AS snippet"""


def top_negative(d: Dialect) -> str:
    return f"""
SELECT {_DOCUMENT_COLUMNS}
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {d.search}
ORDER BY sentiment_negative DESC, id LIMIT {TOP_NEGATIVE_LIMIT}"""


def documents(d: Dialect) -> str:
    """The documents table: drill-down target, search results and CSV export. Newest first, ordered
    by the sorting key's hour first (the same order): ClickHouse then reads the newest hours only."""
    return f"""
SELECT {_DOCUMENT_COLUMNS}
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {d.search}
ORDER BY toStartOfHour(published_at) DESC, published_at DESC, id LIMIT {d.limit} OFFSET {d.offset}"""


def stored_per_bucket(d: Dialect) -> str:
    """Pipeline throughput as the store sees it: rows written per bucket (by ingestion time)."""
    return f"""
SELECT {d.bucket("ingested_at")} AS t, count() AS documents
FROM documents FINAL
WHERE {_in_range(d, "ingested_at")}
GROUP BY t ORDER BY t"""


def models_in_use(d: Dialect) -> str:
    """Which (sentiment, topic) model versions scored the documents in range."""
    return f"""
SELECT sentiment_model, topic_model, count() AS documents, max(published_at) AS last_seen
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY sentiment_model, topic_model ORDER BY sentiment_model, topic_model"""


def alerts(d: Dialect) -> str:
    """Alerts overlapping the range (latest state of each: FINAL) that fired or are pending now (a
    pending alert that never fired ends resolved with fired = false: noise, not an alert); a
    source filter keeps the alerts of those sources and the ones not grouped by source (a group
    key's values are percent-encoded, streams/alerts/windows.py: decoded before comparing)."""
    source_of_group = "if(startsWith(group_key, 'source='), decodeURLComponent(substring(group_key, 8)), '')"
    return f"""
SELECT alert_id, rule, group_key, state, severity, window_start, window_end, started_at, updated_at,
       resolved_at, acknowledged_by, observed, baseline
FROM alerts FINAL
WHERE started_at < {d.end} AND ifNull(resolved_at, now64(3)) >= {d.start} AND (fired OR state = 'pending')
  AND ({source_of_group} = '' OR {d.in_filter("source", source_of_group)})
ORDER BY started_at DESC LIMIT {ALERTS_LIMIT}"""


# name -> (title, SQL). The built-in dashboard and Grafana iterate over this one table.
PANELS: dict[str, tuple[str, Callable[[Dialect], str]]] = {
    "totals": ("Totals", totals),
    "volume": ("Documents per interval by kind and source", volume),
    "negative_share": ("Negative share with baseline band", negative_share),
    "sentiment_by_source": ("Sentiment share by source", sentiment_by_source),
    "sentiment_by_topic": ("Sentiment share by topic", sentiment_by_topic),
    "topic_mix": ("Topic mix", topic_mix),
    "top_negative": ("Most negative documents", top_negative),
    "alerts": ("Alerts", alerts),
    "stored_per_bucket": ("Documents stored per interval", stored_per_bucket),
    "models_in_use": ("Model versions in use", models_in_use),
    "documents": ("Documents", documents),
}

# Values offered by the filters (and accepted by the API) for the data-driven dimensions.
FILTER_VALUES_SQL = f"""
SELECT arraySort(groupUniqArray(source)), arraySort(groupUniqArray({DIMENSIONS["lang"]})) FROM documents"""

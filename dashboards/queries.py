"""Every dashboard panel's SQL, written once and rendered for two front ends.

A panel is a function of a `Dialect`: the built-in dashboard renders it with ClickHouse server-side
parameters (`{from:DateTime64(3, 'UTC')}`, `{source:Array(String)}`: values never enter the SQL
text), Grafana renders it with the ClickHouse plugin's macros and template variables
(`$__fromTime`, `${source:percentencode}` decoded in the SQL: see GRAFANA). Both read
`documents FINAL`, so a document re-delivered after a crash is counted once, and both show the
same numbers.

The panels and filters follow the task table (bloomwatch.tasks): the watched task (sentiment) is
charted as shares of its labels by source and by every other task's label, each other task gets a
mix panel. Task names and labels are lower-case identifiers (the table refuses anything else), so
they enter the SQL text as column names and string literals; values a viewer picks never do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bloomwatch.tasks import Task, tasks, watched_task

DOCUMENT_KINDS = ("news", "review")
BASELINE_WINDOWS = 12  # the negative-share baseline is the pooled share of this many previous windows
TOP_NEGATIVE_LIMIT = 20
ALERTS_LIMIT = 100


def described_by() -> tuple[Task, ...]:
    """The tasks whose labels describe a document beside its source and kind (topic): every task
    but the watched one, whose label shares the page charts."""
    watched = watched_task()
    return tuple(candidate for candidate in tasks() if candidate is not watched)


def dimensions() -> dict[str, str]:
    """Filterable dimensions -> the SQL expression each filters (documents table): what a document
    is (source, kind, the describing tasks' labels, language), then the watched task's label,
    which the page sets only by drilling into its share."""
    return {
        "source": "source",
        "kind": "kind",
        **{candidate.name: candidate.name for candidate in described_by()},
        "lang": "detected_lang",  # read from the text (streams/language.py); 'und' (BCP 47 "undetermined") when unsure
        watched_task().name: watched_task().name,
    }


def fixed_values() -> dict[str, tuple[str, ...]]:
    """Values fixed by the schemas and the task table; `source` and `lang` come from the data."""
    return {"kind": DOCUMENT_KINDS, **{candidate.name: candidate.labels for candidate in tasks()}}


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
        return " AND ".join(self.in_filter(name, expr) for name, expr in dimensions().items())

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


def _watched_count() -> str:
    watched = watched_task()
    return f"countIf({watched.name} = '{watched.watched_label}')"


def _in_range(d: Dialect, column: str = "published_at") -> str:
    return f"{column} >= {d.start} AND {column} < {d.end}"


def totals(d: Dialect) -> str:
    return f"""
SELECT count() AS documents, {_watched_count()} AS negative,
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


def watched_share_by(group: str) -> Callable[[Dialect], str]:
    """Documents per bucket, `group` value (source, or a describing task's label) and watched label."""
    watched = watched_task().name

    def panel(d: Dialect) -> str:
        return f"""
SELECT {d.bucket("published_at")} AS t, {group} AS grp, {watched}, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY t, grp, {watched} ORDER BY t, grp, {watched}"""

    return panel


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
        SELECT {d.bucket("published_at")} AS t, count() AS documents, {_watched_count()} AS negative
        FROM documents FINAL
        WHERE published_at >= {d.start} - toIntervalSecond({d.bucket_s} * {k}) AND published_at < {d.end}
          AND {d.dims()}
        GROUP BY t
    )
    WINDOW w AS (ORDER BY t ROWS BETWEEN {k} PRECEDING AND 1 PRECEDING)
)
WHERE t >= {d.bucket(d.start)}
ORDER BY t"""


def mix(task: Task) -> Callable[[Dialect], str]:
    """Documents per label of `task`, with the watched label's share among them."""

    def panel(d: Dialect) -> str:
        return f"""
SELECT {task.name}, count() AS documents, {_watched_count()} / documents AS negative_share
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY {task.name} ORDER BY documents DESC"""

    return panel


def _watched_probability() -> str:
    watched = watched_task()
    return watched.probability_column(str(watched.watched_label))


def _document_columns() -> str:
    """A document's row in the tables and the CSV export: what it is, the watched label with its
    probability, every task's model version, the start of its text."""
    described = [candidate.name for candidate in described_by()]
    columns = [
        "id", "published_at", "source", "kind", *described, "detected_lang AS lang", watched_task().name,
        _watched_probability(), *(candidate.model_column for candidate in tasks()),
    ]  # fmt: skip
    return f"{', '.join(columns)}, substring(text, 1, 280) AS snippet"


def top_negative(d: Dialect) -> str:
    return f"""
SELECT {_document_columns()}
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {d.search}
ORDER BY {_watched_probability()} DESC, id LIMIT {TOP_NEGATIVE_LIMIT}"""


def documents(d: Dialect) -> str:
    """The documents table: drill-down target, search results and CSV export. Newest first, ordered
    by the sorting key's hour first (the same order): ClickHouse then reads the newest hours only."""
    return f"""
SELECT {_document_columns()}
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
    """Which combinations of model versions (one per task) scored the documents in range."""
    models = ", ".join(candidate.model_column for candidate in tasks())
    return f"""
SELECT {models}, count() AS documents, max(published_at) AS last_seen
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY {models} ORDER BY {models}"""


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


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def panels() -> dict[str, tuple[str, Callable[[Dialect], str]]]:
    """name -> (title, SQL). The built-in dashboard and Grafana iterate over this one table. Per
    task: `<watched>_by_source` and `<watched>_by_<task>` for each describing task, `<task>_mix`
    for each describing task (sentiment_by_source, sentiment_by_topic, topic_mix for the built-in
    ones; the page finds them by these names)."""
    watched, described = watched_task(), described_by()
    share = _title(watched.name)
    return {
        "totals": ("Totals", totals),
        "volume": ("Documents per interval by kind and source", volume),
        "negative_share": (f"{_title(str(watched.watched_label))} share with baseline band", negative_share),
        **{
            f"{watched.name}_by_{group}": (f"{share} share by {group.replace('_', ' ')}", watched_share_by(group))
            for group in ("source", *(candidate.name for candidate in described))
        },
        **{f"{candidate.name}_mix": (f"{_title(candidate.name)} mix", mix(candidate)) for candidate in described},
        "top_negative": (f"Most {watched.watched_label} documents", top_negative),
        "alerts": ("Alerts", alerts),
        "stored_per_bucket": ("Documents stored per interval", stored_per_bucket),
        "models_in_use": ("Model versions in use", models_in_use),
        "documents": ("Documents", documents),
    }


# Values offered by the filters (and accepted by the API) for the data-driven dimensions.
FILTER_VALUES_SQL = """
SELECT arraySort(groupUniqArray(source)), arraySort(groupUniqArray(detected_lang)) FROM documents"""

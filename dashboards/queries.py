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

A task leaves a document unscored when none of its models reads the document's language, or when
the document was stored before the task existed (`<task>_unscored` holds the reason). Such a row
keeps the task's first label with probabilities 0, so every share, mix and label count of a task
reads only the rows it scored (`store.documents.scored`), and a label filter matches only those;
volumes count every document, and the unscored share per task shows how much of the range no
model read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bloomwatch.tasks import Task, Unscored, tasks, watched_task
from store.documents import scored

DOCUMENT_KINDS = ("news", "review")
BASELINE_WINDOWS = 12  # the negative-share baseline is the pooled share of this many previous windows
TOP_NEGATIVE_LIMIT = 20
ALERTS_LIMIT = 100


def described_by() -> tuple[Task, ...]:
    """The tasks whose labels describe a document beside its source and kind (topic): every task
    but the watched one, whose label shares the page charts."""
    watched = watched_task()
    return tuple(candidate for candidate in tasks() if candidate is not watched)


def label_of(task: Task) -> str:
    """SQL: the task's label where it scored the document, else '' (which no label filter chooses):
    an unscored row's stored label is a placeholder (the first label), not a verdict."""
    return f"if({scored(task)}, toString({task.name}), '')"


def dimensions() -> dict[str, str]:
    """Filterable dimensions -> the SQL expression each filters (documents table): what a document
    is (source, kind, the describing tasks' labels, language), then the watched task's label,
    which the page sets only by drilling into its share. A task's label filter matches the
    documents it scored only (`label_of`)."""
    return {
        "source": "source",
        "kind": "kind",
        **{candidate.name: label_of(candidate) for candidate in described_by()},
        "lang": "detected_lang",  # read from the text (bloomwatch/language.py); 'und' (BCP 47 "undetermined") when unsure
        watched_task().name: label_of(watched_task()),
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
    """The documents the watched task scored with its watched label (negative)."""
    watched = watched_task()
    return f"countIf({watched.name} = '{watched.watched_label}' AND {scored(watched)})"


def _watched_scored() -> str:
    return f"countIf({scored(watched_task())})"


def _in_range(d: Dialect, column: str = "published_at") -> str:
    return f"{column} >= {d.start} AND {column} < {d.end}"


def totals(d: Dialect) -> str:
    """Every document in range, the ones the watched task scored, and the watched label's share of those."""
    return f"""
SELECT count() AS documents, {_watched_scored()} AS scored, {_watched_count()} AS negative,
       if(scored = 0, NULL, negative / scored) AS negative_share,
       length(groupUniqArray(source)) AS sources  -- exact; uniqExact(source) was 3x slower here
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}"""


def volume(d: Dialect) -> str:
    """Documents per bucket by kind and source: every document, scored or not."""
    return f"""
SELECT {d.bucket("published_at")} AS t, kind, source, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY t, kind, source ORDER BY t, kind, source"""


def volume_by_lang(d: Dialect) -> str:
    """Documents per bucket by the language read from their text (every document, scored or not):
    a market whose language no model reads shows here and in `unscored`, not in the shares."""
    return f"""
SELECT {d.bucket("published_at")} AS t, detected_lang AS lang, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()}
GROUP BY t, lang ORDER BY t, lang"""


def unscored(d: Dialect) -> str:
    """Per task (table order), the share of the range's documents it left unscored, by reason
    (one column per bloomwatch.tasks.Unscored, each a share of `documents`), and the languages
    most of them are in. One pass over the documents (a tuple per task), then a row per task."""
    reasons = list(Unscored)

    def per_task(task: Task) -> str:
        column = task.unscored_column
        counts = ", ".join(f"countIf({column} = '{reason}')" for reason in reasons)
        return f"tuple('{task.name}', countIf({column} != ''), [{counts}], topKIf(5)(detected_lang, {column} != ''))"

    by_reason = "".join(f"entry.3[{i}] / nullIf(documents, 0) AS {reason}, " for i, reason in enumerate(reasons, 1))
    return f"""
SELECT entry.1 AS task, documents, entry.2 AS unscored, unscored / nullIf(documents, 0) AS unscored_share,
       {by_reason}entry.4 AS languages
FROM (
    SELECT count() AS documents, [{", ".join(per_task(candidate) for candidate in tasks())}] AS per_task
    FROM documents FINAL
    WHERE {_in_range(d)} AND {d.dims()}
)
ARRAY JOIN per_task AS entry"""


def watched_share_by(group: str) -> Callable[[Dialect], str]:
    """Documents per bucket, `group` value (source, or a describing task's label) and watched label,
    among the documents the watched task (and the grouping task) scored."""
    watched = watched_task()
    grouping = [candidate for candidate in described_by() if candidate.name == group]
    both = " AND ".join(scored(candidate) for candidate in (watched, *grouping))

    def panel(d: Dialect) -> str:
        return f"""
SELECT {d.bucket("published_at")} AS t, {group} AS grp, {watched.name}, count() AS documents
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {both}
GROUP BY t, grp, {watched.name} ORDER BY t, grp, {watched.name}"""

    return panel


def negative_share(d: Dialect) -> str:
    """Negative share per bucket with its baseline band: the pooled share of the previous
    BASELINE_WINDOWS buckets, +- 2 binomial standard deviations at this bucket's size. `documents`
    are the bucket's documents the watched task scored."""
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
          AND {d.dims()} AND {scored(watched_task())}
        GROUP BY t
    )
    WINDOW w AS (ORDER BY t ROWS BETWEEN {k} PRECEDING AND 1 PRECEDING)
)
WHERE t >= {d.bucket(d.start)}
ORDER BY t"""


def mix(task: Task) -> Callable[[Dialect], str]:
    """Documents per label of `task` among those it scored, with the watched label's share among
    the ones the watched task scored too (NULL where it scored none)."""

    def panel(d: Dialect) -> str:
        return f"""
SELECT {task.name}, count() AS documents, {_watched_count()} / nullIf({_watched_scored()}, 0) AS negative_share
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {scored(task)}
GROUP BY {task.name} ORDER BY documents DESC"""

    return panel


def _watched_probability() -> str:
    watched = watched_task()
    return watched.probability_column(str(watched.watched_label))


def _document_columns() -> str:
    """A document's row in the tables and the CSV export: what it is, the watched label with its
    probability, every task's model version and why it left the document unscored, the start of
    its text. A task's label is '' and the watched probability NULL where the task did not score
    the document (a placeholder is no verdict, in a table or a spreadsheet)."""
    watched = watched_task()
    probability = _watched_probability()
    columns = [
        "id", "published_at", "source", "kind", *(f"{label_of(c)} AS {c.name}" for c in described_by()),
        "detected_lang AS lang", f"{label_of(watched)} AS {watched.name}",
        f"if({scored(watched)}, {probability}, NULL) AS {probability}",
        *(candidate.model_column for candidate in tasks()), *(candidate.unscored_column for candidate in tasks()),
    ]  # fmt: skip
    return f"{', '.join(columns)}, substring(text, 1, 280) AS snippet"


def top_negative(d: Dialect) -> str:
    """The documents the watched task scored most likely to carry its watched label."""
    return f"""
SELECT {_document_columns()}
FROM documents FINAL
WHERE {_in_range(d)} AND {d.dims()} AND {d.search} AND {scored(watched_task())}
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
    key's values are percent-encoded, bloomwatch/alerts/windows.py: decoded before comparing)."""
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
    ones; the page finds them by these names); `unscored` has a row per task."""
    watched, described = watched_task(), described_by()
    share = _title(watched.name)
    return {
        "totals": ("Totals", totals),
        "volume": ("Documents per interval by kind and source", volume),
        "volume_by_lang": ("Documents per interval by language", volume_by_lang),
        "unscored": ("Unscored share per task", unscored),
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

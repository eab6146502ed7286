"""Synthetic stored documents and alerts for the dashboard tests and bench, written by ClickHouse
itself (INSERT ... SELECT FROM numbers(n)): a million rows in seconds, deterministic per row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bloomwatch.tasks import Task, tasks
from store.documents import COLUMNS

SOURCES = ("acme-bank", "shop-north", "shop-south", "app-store", "wire-east", "wire-west")
LANGS = ("en", "de", "fr")


def populate(client, n: int, *, end: datetime, span: timedelta, burst: tuple[datetime, datetime] | None = None) -> None:
    """n documents spread evenly over [end - span, end): six sources, news and reviews alternate,
    every tenth without a language, ~30% negative (85% for shop-south during `burst`); ids `doc-<i>`;
    every task scored every document (`store_documents` writes unscored ones).
    A task a tasks file adds gets its labels by hash (`declared_task_scores`)."""
    burst_start, burst_end = burst or (end, end)
    expressions = {
        "id": "concat('doc-', toString(number))",
        "source": f"{list(SOURCES)}[number % {len(SOURCES)} + 1]",
        "kind": "if(number % 2 = 0, 'news', 'review')",
        "lang": f"if(number % 10 = 9, NULL, {list(LANGS)}[number % {len(LANGS)} + 1])",
        "url": "NULL",
        "metadata": "map()",
        "published_at": "{end:DateTime64(3, 'UTC')} - toIntervalMillisecond(intDiv(number * {span_ms:UInt64}, {n:UInt64}) + 1)",
        "enqueued_at": "published_at",
        "ingested_at": "published_at + toIntervalMillisecond(300)",
        "text": "concat('Report ', toString(number), if(sentiment = 'negative', ': the service was terrible and shares fell', ': results were fine and customers were happy'))",
        "sentiment": "multiIf(cityHash64(number) % 100 < if(source = 'shop-south' AND published_at >= {burst_start:DateTime64(3, 'UTC')}"
        " AND published_at < {burst_end:DateTime64(3, 'UTC')}, 85, 30), 'negative', cityHash64(number) % 100 < 60, 'neutral', 'positive')",
        "sentiment_negative": "if(sentiment = 'negative', 0.6 + (number % 40) / 100, 0.1)",
        "sentiment_neutral": "if(sentiment = 'neutral', 0.8, 0.1)",
        "sentiment_positive": "1 - sentiment_negative - sentiment_neutral",
        "sentiment_model": "'sentiment-v1'",
        "topic": "['world', 'sports', 'business', 'sci_tech'][intDiv(number, 7) % 4 + 1]",
        "topic_world": "0.25", "topic_sports": "0.25", "topic_business": "0.25", "topic_sci_tech": "0.25",
        "topic_model": "'topic-v1'",
        "detected_lang": "ifNull(lang, 'und')",
        "lang_confidence": "if(lang IS NULL, 0.01, 0.9)",
    }  # fmt: skip
    for task in tasks():
        if task.name not in expressions:
            expressions.update(declared_task_scores(task))
        expressions.setdefault(task.unscored_column, "''")  # every task scored every document
    select = ", ".join(f"{expressions[c]} AS {c}" for c in COLUMNS)
    client.command(
        f"INSERT INTO documents ({', '.join(COLUMNS)}) SELECT {select} FROM numbers({{n:UInt64}})",
        parameters={
            "n": n,
            "end": end,
            "span_ms": int(span.total_seconds() * 1000),
            "burst_start": burst_start,
            "burst_end": burst_end,
        },
        settings={"async_insert": 0},
    )


def declared_task_scores(task: Task) -> dict[str, str]:
    """Column expressions for a task declared in a tasks file: a label per document by hash of its
    number, that label at probability 0.7, model `<task>-v1`."""
    others = 0.3 / (len(task.labels) - 1)
    return {
        task.name: f"{list(task.labels)}[cityHash64(number, '{task.name}') % {len(task.labels)} + 1]",
        **{task.probability_column(label): f"if({task.name} = '{label}', 0.7, {others})" for label in task.labels},
        task.model_column: f"'{task.name}-v1'",
    }


def market_rows(end: datetime, *, english: int, japanese: int, topic_before: int, span: timedelta) -> list[list]:
    """`documents` rows (store.documents.document_row, as the worker writes them) of two markets,
    interleaved over [end - span, end): `english` documents from `wire-en`/`shop-en` that every
    task scored (label i % number of labels: every third negative), the last `topic_before` of them
    stored before the topic task existed; `japanese` documents from `wire-ja` that no model reads
    (unsupported_language for every task), detected as `ja`. Ids `en-<i>` and `ja-<i>`."""
    from bloomwatch.prediction import Prediction
    from bloomwatch.schemas import Document
    from bloomwatch.tasks import Unscored, task
    from store.documents import document_row

    def prediction(name: str, i: int) -> Prediction | Unscored:
        if name == "topic" and i >= english - topic_before:
            return Unscored.STORED_BEFORE_TASK
        labels = task(name).labels
        label = labels[i % len(labels)]
        probs = {other: 0.8 if other == label else 0.2 / (len(labels) - 1) for other in labels}
        return Prediction(label=label, probs=probs, model_version=f"{name}-v1")

    specs = [("en", i) for i in range(english)] + [("ja", i) for i in range(japanese)]
    specs.sort(key=lambda spec: spec[1] / (english if spec[0] == "en" else japanese))  # the two markets interleaved
    rows = []
    for k, (lang, i) in enumerate(specs):
        published_at = end - span * (len(specs) - k) / len(specs)
        if lang == "en":
            text, source = f"Report {i}: shares fell and customers complained", ("wire-en", "shop-en")[i % 2]
            predictions: dict[str, Prediction | Unscored] = {t.name: prediction(t.name, i) for t in tasks()}
        else:
            text, source = f"報告 {i}: 株価が下がり、顧客から苦情が寄せられた", "wire-ja"
            predictions = {t.name: Unscored.UNSUPPORTED_LANGUAGE for t in tasks()}
        document = Document(
            id=f"{lang}-{i}",
            source=source,
            kind=("news", "review")[i % 2],
            lang=lang,
            text=text,
            published_at=published_at,
        )
        rows.append(document_row(document, predictions, (lang, 0.95), published_at))
    return rows


def insert_copy(client, of: str, **columns: str) -> None:
    """A copy of stored document `of` with some String columns replaced (e.g. a hostile id or source)."""
    replaced = ", ".join(f"{{{name}:String}} AS {name}" for name in columns)
    client.command(
        f"INSERT INTO documents SELECT * REPLACE ({replaced}) FROM (SELECT * FROM documents WHERE id = {{of:String}})",
        parameters={**columns, "of": of}, settings={"async_insert": 0},
    )  # fmt: skip


def insert_alert(
    client,
    *,
    alert_id: str,
    source: str,
    state: str,
    started_at: datetime,
    updated_at: datetime | None = None,
    observed: float = 0.8,
) -> None:
    """One alert row of `negative_share_spike`, its window the five minutes to `started_at`;
    `observed`: the figure of its latest window (a resolved alert's is back at the usual level)."""
    from bloomwatch.alerts.windows import group_key

    updated_at = updated_at or started_at
    client.insert(
        "alerts",
        [[alert_id, "negative_share_spike", group_key(["source"], [source]), state, "warning", started_at - timedelta(minutes=5),
          started_at, started_at, updated_at, updated_at if state == "resolved" else None, None, observed, 0.3, 4.2, "{}", state != "pending"]],
        column_names=["alert_id", "rule", "group_key", "state", "severity", "window_start", "window_end", "started_at",
                      "updated_at", "resolved_at", "acknowledged_by", "observed", "baseline", "statistic", "payload", "fired"],
        settings={"async_insert": 0},
    )  # fmt: skip


def legacy_documents_ddl() -> str:
    """`documents` as stores made before the hour-leading sorting key have it: ORDER BY id, no projection,
    kind/sentiment/topic as LowCardinality(String), no detected language."""
    import re

    from store.migration import documents_ddl

    ddl = re.sub(
        r"^(\s{4}(?:kind|sentiment|topic)\s+)Enum8\(.+\),$",
        r"\1LowCardinality(String),",
        documents_ddl(),
        flags=re.MULTILINE,
    )
    assert "Enum8" not in ddl, ddl
    ddl = ddl.replace("ORDER BY (toStartOfHour(published_at), id)", "ORDER BY id")
    ddl = ddl.replace(",\n    PROJECTION by_id (SELECT id, published_at ORDER BY id)", "")
    ddl = ddl.replace(", deduplicate_merge_projection_mode = 'rebuild'", "")
    ddl = re.sub(
        r"^\s{4}(?:detected_lang|lang_confidence)\s.*\n", "", ddl, flags=re.MULTILINE
    )  # before language detection
    assert "PROJECTION" not in ddl and ddl.count("ORDER BY") == 1 and "detected_lang" not in ddl, ddl
    return ddl


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def run_python(code: str, *args: str, timeout_s: float = 180) -> str:
    """Runs `code` in a fresh interpreter (a chDB directory belongs to one process at a time)."""
    import subprocess
    import sys
    from pathlib import Path

    tests = str(Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {tests!r}); {code}", *args],
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def dashboard_server(root: Path, dsn: str, **env: str) -> Iterator[str]:
    """`bloomwatch dashboard` on `dsn`, its URL once it answers; stopped on exit. No worker unless
    `env` names one: BLOOMWATCH_WORKER_PORT points at a free port, so health reports the error."""
    from app.processes import ManagedProcess, bloomwatch_command, http_ok
    from bloomwatch.net import free_port

    port = free_port()
    server = ManagedProcess(
        "dashboard",
        bloomwatch_command("dashboard", "--port", str(port)),
        log_path=root / "dashboard.log",
        env={
            "BLOOMWATCH_HOME": str(root / "home"),
            "BLOOMWATCH_CLICKHOUSE_DSN": dsn,
            "BLOOMWATCH_WORKER_PORT": str(free_port()),
            **env,
        },
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(lambda: http_ok(f"{url}/dashboard/static/app.css"), timeout_s=120)
        yield url
    finally:
        server.stop(timeout_s=30)

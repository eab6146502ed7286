"""The ClickHouse sink and read side for classified documents.

One code path for both deployments: `chdb:///abs/dir` runs the real ClickHouse engine inside this
process (one process may own a directory, so in embedded mode the worker owns the store and
serves reads over HTTP), `http://host:8123` talks to a server that many workers share.
Everything here is synchronous; the worker runs it on one dedicated thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import clickhouse_connect

from classifiers.types import Prediction
from streams.schemas import Document, DocumentQuery, StoredDocument, TaskScore
from streams.timestamps import as_utc
from training.labels import TASK_LABELS

TABLE = "documents"

# Column order of `documents` as inserted; probability columns follow TASK_LABELS order.
COLUMNS: tuple[str, ...] = (
    "id", "source", "kind", "lang", "url", "metadata", "published_at", "enqueued_at", "ingested_at", "text",
    "sentiment", *(f"sentiment_{label}" for label in TASK_LABELS["sentiment"]), "sentiment_model",
    "topic", *(f"topic_{label}" for label in TASK_LABELS["topic"]), "topic_model", "detected_lang", "lang_confidence",
)  # fmt: skip

# chDB defaults to async_insert=1; a synchronous insert is what makes "written" mean durable
# before the Kafka offset is committed, and what the per-batch deduplication token applies to.
INSERT_SETTINGS = {"async_insert": 0}
_ID, _PUBLISHED_AT, _INGESTED_AT = (COLUMNS.index(name) for name in ("id", "published_at", "ingested_at"))


def ddl_statements() -> list[str]:
    """The statements of streams/ddl.sql, split on lines holding only ';'."""
    text = files("streams").joinpath("ddl.sql").read_text()
    chunks = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).split("\n;")
    return [chunk.strip() for chunk in chunks if chunk.strip()]


def document_row(
    document: Document, sentiment: Prediction, topic: Prediction, language: tuple[str, float], enqueued_at: datetime
) -> list[Any]:
    """A `documents` row (without ingested_at, set at insert time) for a validated Document;
    `language` is (detected code, confidence) from streams.language."""
    return [
        document.id,
        document.source,
        document.kind,
        document.lang,
        document.url,
        dict(document.metadata),
        document.published_at.astimezone(UTC),
        enqueued_at,
        None,  # ingested_at
        document.text,
        sentiment.label,
        *(float(sentiment.probs[label]) for label in TASK_LABELS["sentiment"]),
        sentiment.model_version,
        topic.label,
        *(float(topic.probs[label]) for label in TASK_LABELS["topic"]),
        topic.model_version,
        *language,
    ]


def batch_token(rows: Sequence[Sequence[Any]]) -> str:
    """Deduplication token of a batch: same documents scored by the same models -> same token.

    A retried insert after a timeout, or the same batch replayed after a crash, is dropped whole
    by ClickHouse; a re-classification by a new model version is a new token and replaces rows.
    """
    digest = hashlib.sha256()
    id_i, sm_i, tm_i = COLUMNS.index("id"), COLUMNS.index("sentiment_model"), COLUMNS.index("topic_model")
    for row in sorted(rows, key=lambda r: r[id_i]):
        digest.update(f"{row[id_i]}\x00{row[sm_i]}\x00{row[tm_i]}\x01".encode())
    return digest.hexdigest()


class DocumentStore:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self.client = clickhouse_connect.get_client(dsn=dsn)

    def ensure_schema(self) -> None:
        for statement in ddl_statements():
            self.client.command(statement)

    def ping(self) -> bool:
        try:
            return self.client.command("SELECT 1") == 1
        except Exception:
            return False

    def insert(self, rows: Sequence[list[Any]]) -> None:
        """Write one batch synchronously; safe to call again with the same rows after any failure.

        Every row of an id gets the `published_at` the id was first stored with (or, for a new id,
        its first row in this batch): the sorting key starts with its hour, and only rows with one
        sorting key collapse, so a document re-sent with a new time must not land in another hour.
        """
        if not rows:
            return
        token = batch_token(rows)
        ingested_at = datetime.now(UTC)
        first_published = self._stored_published_at([row[_ID] for row in rows])
        for row in rows:
            first_published.setdefault(row[_ID], row[_PUBLISHED_AT])
        stamped = [list(row) for row in rows]
        for row in stamped:
            row[_PUBLISHED_AT], row[_INGESTED_AT] = first_published[row[_ID]], ingested_at
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self.client.insert(TABLE, stamped, column_names=list(COLUMNS), settings=settings)

    def _stored_published_at(self, ids: list[str]) -> dict[str, datetime]:
        """`published_at` of those ids already stored (read from the `by_id` projection: no scan)."""
        result = self.client.query(
            f"SELECT id, min(published_at) FROM {TABLE} WHERE id IN {{ids:Array(String)}} GROUP BY id",
            parameters={"ids": ids},
        )
        return {document_id: as_utc(published_at) for document_id, published_at in result.result_rows}

    def count(self) -> int:
        return int(self.client.command(f"SELECT count() FROM {TABLE} FINAL"))

    def get_document(self, document_id: str) -> StoredDocument | None:
        """The stored version of one document (the latest, after deduplication), or None."""
        rows = self.client.query(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} FINAL WHERE id = {{id:String}}"
            # the id's hour from the projection, so FINAL reads that hour only (the key's first part)
            f" AND toStartOfHour(published_at) IN (SELECT toStartOfHour(published_at) FROM {TABLE} WHERE id = {{id:String}})"
            " LIMIT 1",
            parameters={"id": document_id},
        ).result_rows
        return _stored_document(rows[0]) if rows else None

    def search_documents(self, query: DocumentQuery) -> list[StoredDocument]:
        """Documents matching every filter of `query`, newest `published_at` first.

        Each filter is a fixed SQL fragment with a server-side parameter: no user text is ever
        spliced into the SQL.
        """
        filters = {
            "q": "positionCaseInsensitiveUTF8(text, {q:String}) > 0",
            "source": "source = {source:String}",
            "kind": "kind = {kind:String}",
            "since": "published_at >= {since:DateTime64(3, 'UTC')}",
            "until": "published_at < {until:DateTime64(3, 'UTC')}",
            "label": "(sentiment = {label:String} OR topic = {label:String})",
            "lang": "detected_lang = {lang:String}",
        }
        parameters = {name: getattr(query, name) for name in filters if getattr(query, name) is not None}
        where = " AND ".join(filters[name] for name in parameters) or "1"
        rows = self.client.query(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} FINAL WHERE {where}"
            " ORDER BY published_at DESC, id LIMIT {limit:UInt32}",
            parameters={**parameters, "limit": query.limit},
        ).result_rows
        return [_stored_document(row) for row in rows]

    def latency_quantiles(self, since: datetime, quantiles: Sequence[float] = (0.5, 0.99)) -> dict[str, float]:
        """Publish (Kafka timestamp) -> stored latency over rows enqueued since `since`."""
        qs = ", ".join(str(q) for q in quantiles)
        result = self.client.query(
            f"SELECT quantilesExact({qs})(toFloat64(ingested_at) - toFloat64(enqueued_at)), count()"
            f" FROM {TABLE} FINAL WHERE enqueued_at >= {{since:DateTime64(3, 'UTC')}}",
            parameters={"since": since},
        )
        values, n = result.result_rows[0]
        return {"count": int(n), **{f"p{round(q * 100)}": float(v) for q, v in zip(quantiles, values, strict=True)}}

    def stats(self, window_minutes: int = 15) -> dict[str, Any]:
        """Counts by kind, sentiment and topic, and the negative share of the last window."""

        def grouped(column: str) -> dict[str, int]:
            rows = self.client.query(f"SELECT {column}, count() FROM {TABLE} FINAL GROUP BY {column}").result_rows
            return {str(key): int(n) for key, n in rows}

        recent_n, recent_negative = self.client.query(
            f"SELECT count(), countIf(sentiment = 'negative') FROM {TABLE} FINAL"
            f" WHERE published_at >= now64(3) - toIntervalMinute({{m:UInt32}})",
            parameters={"m": window_minutes},
        ).result_rows[0]
        return {
            "documents": self.count(),
            "by_kind": grouped("kind"),
            "by_sentiment": grouped("sentiment"),
            "by_topic": grouped("topic"),
            "recent": {
                "window_minutes": window_minutes,
                "documents": int(recent_n),
                "negative": int(recent_negative),
                "negative_share": (recent_negative / recent_n) if recent_n else None,
            },
        }

    def close(self) -> None:
        self.client.close()


def _stored_document(row: Sequence[Any]) -> StoredDocument:
    """A `documents` row (COLUMNS order) as the read API's model."""
    values = dict(zip(COLUMNS, row, strict=True))

    def score(task: str) -> TaskScore:
        probs = {label: float(values[f"{task}_{label}"]) for label in TASK_LABELS[task]}
        return TaskScore(label=values[task], probs=probs, model=values[f"{task}_model"])

    fields = {name: values[name] for name in ("id", "source", "kind", "lang", "url", "metadata", "text", "detected_lang")}
    fields["lang_confidence"] = float(values["lang_confidence"])
    times = {name: as_utc(values[name]) for name in ("published_at", "enqueued_at", "ingested_at")}
    return StoredDocument(**fields, **times, sentiment=score("sentiment"), topic=score("topic"))


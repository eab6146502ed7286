"""The `documents` table: the worker's sink for classified documents and their reads.

One code path for both deployments: the client (store/connect.py) is chDB inside the worker or a
ClickHouse server that many workers share. Everything here is synchronous; the worker runs it on
its store thread (store/executor.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from bloomwatch.prediction import Prediction
from bloomwatch.schemas import Document, DocumentQuery, StoredDocument, TaskScore
from bloomwatch.tasks import Task, Unscored, tasks, watched_task
from bloomwatch.timestamps import as_utc
from store.connect import StoreClient, command_count
from store.tables import DOCUMENTS

_DOCUMENT_COLUMNS = (
    "id",
    "source",
    "kind",
    "lang",
    "url",
    "metadata",
    "published_at",
    "enqueued_at",
    "ingested_at",
    "text",
)
_LANGUAGE_COLUMNS = ("detected_lang", "lang_confidence")
# Column order of `documents` as inserted: the document, each task's scores in table order
# (Task.score_columns), then the language read from the text.
COLUMNS: tuple[str, ...] = (
    *_DOCUMENT_COLUMNS, *(column for task in tasks() for column in task.score_columns), *_LANGUAGE_COLUMNS,
)  # fmt: skip

# chDB defaults to async_insert=1; a synchronous insert is what makes "written" mean durable
# before the Kafka offset is committed, and what the per-batch deduplication token applies to.
INSERT_SETTINGS = {"async_insert": 0}
_ID, _PUBLISHED_AT, _INGESTED_AT = (COLUMNS.index(name) for name in ("id", "published_at", "ingested_at"))
# where store/ddl.sql's `documents` table takes the task columns
_TASK_COLUMNS_MARK = "{task_columns}"


def ddl_statements() -> list[str]:
    """The statements of store/ddl.sql (split on lines holding only ';') with the task table's
    columns in `documents`, then one ADD COLUMN per task column: a store made before a task
    existed gains its columns."""
    text = files("store").joinpath("ddl.sql").read_text()
    chunks = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).split("\n;")
    statements = [chunk.strip().replace(_TASK_COLUMNS_MARK, _task_columns_sql()) for chunk in chunks if chunk.strip()]
    return [*statements, *_task_column_additions()]


def _task_column_types(task: Task) -> list[tuple[str, str]]:
    """(column, ClickHouse type) of a task's columns: its label as an Enum8 of the labels in
    order (an unknown name would be stored as 0, so the classifier client refuses one first), one
    Float32 probability per label, and the registry version that scored it."""
    enum = ", ".join(f"'{label}' = {number}" for number, label in enumerate(task.labels, start=1))
    probabilities = [(task.probability_column(label), "Float32") for label in task.labels]
    # Rows written before the column existed read their reason from this default: scored when a
    # model name is there, else stored before the task was in the table.
    unscored = f"LowCardinality(String) DEFAULT if({task.model_column} = '', '{Unscored.STORED_BEFORE_TASK}', '')"
    return [
        (task.name, f"Enum8({enum})"), *probabilities, (task.model_column, "LowCardinality(String)"), (task.unscored_column, unscored),
    ]  # fmt: skip


def scored(task: Task, table: str = "") -> str:
    """SQL condition: `task` scored the row. Every share, window and training read adds it."""
    return f"{table + '.' if table else ''}{task.unscored_column} = ''"


def _task_columns_sql() -> str:
    """The task columns as lines of the CREATE TABLE's column list (store/migration.py
    reads the types back from these lines)."""
    return "\n".join(
        f"    {column:<18} {kind}," for task in tasks() for column, kind in _task_column_types(task)
    ).lstrip()


def _task_column_additions() -> list[str]:
    """Each task column added where a fresh table has it (after the column before it), so every
    store has one column order."""
    previous = _DOCUMENT_COLUMNS[-1]
    additions = []
    for task in tasks():
        for column, kind in _task_column_types(task):
            additions.append(f"ALTER TABLE {DOCUMENTS} ADD COLUMN IF NOT EXISTS {column} {kind} AFTER {previous}")
            previous = column
    return additions


def document_row(
    document: Document,
    predictions: dict[str, Prediction | Unscored],
    language: tuple[str, float],
    enqueued_at: datetime,
) -> list[Any]:
    """A `documents` row (without ingested_at, set at insert time) for a validated Document;
    `predictions` holds, by task name, the task's Prediction or why it has none; `language` is
    (detected code, confidence) from bloomwatch.language."""
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
        *(value for task in tasks() for value in _score_values(task, predictions[task.name])),
        *language,
    ]


def _score_values(task: Task, prediction: Prediction | Unscored) -> list[Any]:
    """A prediction as the task's columns (Task.score_columns order). An unscored document keeps
    the first label (the Enum8 has no empty value), probabilities 0 and no model: readers go by
    the reason column (`scored`)."""
    if isinstance(prediction, Unscored):
        return [task.labels[0], *(0.0 for _ in task.labels), "", str(prediction)]
    return [prediction.label, *(float(prediction.probs[label]) for label in task.labels), prediction.model_version, ""]


def batch_token(rows: Sequence[Sequence[Any]]) -> str:
    """Deduplication token of a batch: same documents scored by the same models -> same token.

    A retried insert after a timeout, or the same batch replayed after a crash, is dropped whole
    by ClickHouse; a re-classification by a new model version is a new token and replaces rows.
    """
    digest = hashlib.sha256()
    models = [COLUMNS.index(task.model_column) for task in tasks()]
    for row in sorted(rows, key=lambda r: r[_ID]):
        digest.update(("\x00".join([row[_ID], *(row[i] for i in models)]) + "\x01").encode())
    return digest.hexdigest()


class DocumentStore:
    def __init__(self, client: StoreClient):
        self.client = client

    def ensure_schema(self) -> None:
        for statement in ddl_statements():
            self.client.command(statement)

    def ping(self) -> bool:
        try:
            return self.client.command("SELECT 1") == 1
        except Exception:  # noqa: BLE001 - any failure to answer is "not healthy", which is the answer
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
        self.client.insert(DOCUMENTS, stamped, column_names=list(COLUMNS), settings=settings)

    def _stored_published_at(self, ids: list[str]) -> dict[str, datetime]:
        """`published_at` of those ids already stored (read from the `by_id` projection: no scan)."""
        result = self.client.query(
            f"SELECT id, min(published_at) FROM {DOCUMENTS} WHERE id IN {{ids:Array(String)}} GROUP BY id",
            parameters={"ids": ids},
        )
        return {document_id: as_utc(published_at) for document_id, published_at in result.result_rows}

    def count(self) -> int:
        return command_count(self.client, f"SELECT count() FROM {DOCUMENTS} FINAL")

    def unscored_counts(self) -> dict[str, dict[str, int]]:
        """Per task, the stored documents it left unscored, by reason (bloomwatch.tasks.Unscored)."""
        counted = ", ".join(f"sumMap(map({t.unscored_column}, 1))" for t in tasks())
        row = self.client.query(f"SELECT {counted} FROM {DOCUMENTS} FINAL").result_rows[0]
        return {
            t.name: {reason: int(n) for reason, n in dict(by_reason).items() if reason}
            for t, by_reason in zip(tasks(), row, strict=True)
        }

    def get_document(self, document_id: str) -> StoredDocument | None:
        """The stored version of one document (the latest, after deduplication), or None."""
        rows = self.client.query(
            f"SELECT {', '.join(COLUMNS)} FROM {DOCUMENTS} FINAL WHERE id = {{id:String}}"
            # the id's hour from the projection, so FINAL reads that hour only (the key's first part)
            f" AND toStartOfHour(published_at) IN (SELECT toStartOfHour(published_at) FROM {DOCUMENTS} WHERE id = {{id:String}})"
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
            "label": "("
            + " OR ".join(f"({task.name} = {{label:String}} AND {scored(task)})" for task in tasks())
            + ")",
            "lang": "detected_lang = {lang:String}",
        }
        parameters = {name: getattr(query, name) for name in filters if getattr(query, name) is not None}
        where = " AND ".join(filters[name] for name in parameters) or "1"
        rows = self.client.query(
            f"SELECT {', '.join(COLUMNS)} FROM {DOCUMENTS} FINAL WHERE {where}"
            " ORDER BY published_at DESC, id LIMIT {limit:UInt32}",
            parameters={**parameters, "limit": query.limit},
        ).result_rows
        return [_stored_document(row) for row in rows]

    def latency_quantiles(self, since: datetime, quantiles: Sequence[float] = (0.5, 0.99)) -> dict[str, float]:
        """Publish (Kafka timestamp) -> stored latency over rows enqueued since `since`."""
        qs = ", ".join(str(q) for q in quantiles)
        result = self.client.query(
            f"SELECT quantilesExact({qs})(toFloat64(ingested_at) - toFloat64(enqueued_at)), count()"
            f" FROM {DOCUMENTS} FINAL WHERE enqueued_at >= {{since:DateTime64(3, 'UTC')}}",
            parameters={"since": since},
        )
        values, n = result.result_rows[0]
        return {"count": int(n), **{f"p{round(q * 100)}": float(v) for q, v in zip(quantiles, values, strict=True)}}

    def stats(self, window_minutes: int = 15) -> dict[str, Any]:
        """Counts by kind, by detected language and by each task's label among the documents it
        scored (`by_<task>`), the unscored ones by task and reason (`unscored`), and the watched
        label's share of the last window's scored documents (`negative`, `negative_share`)."""

        def grouped(column: str, where: str = "1") -> dict[str, int]:
            rows = self.client.query(
                f"SELECT {column}, count() FROM {DOCUMENTS} FINAL WHERE {where} GROUP BY {column}"
            ).result_rows
            return {str(key): int(n) for key, n in rows}

        watched = watched_task()
        recent_n, recent_watched = self.client.query(
            f"SELECT count(), countIf({watched.name} = {{label:String}}) FROM {DOCUMENTS} FINAL"
            f" WHERE published_at >= now64(3) - toIntervalMinute({{m:UInt32}}) AND {scored(watched)}",
            parameters={"m": window_minutes, "label": watched.watched_label},
        ).result_rows[0]
        return {
            "documents": self.count(),
            "by_kind": grouped("kind"),
            "by_language": grouped("detected_lang"),
            **{f"by_{task.name}": grouped(task.name, scored(task)) for task in tasks()},
            "unscored": self.unscored_counts(),
            "recent": {
                "window_minutes": window_minutes,
                "documents": int(recent_n),
                watched.watched_label: int(recent_watched),
                f"{watched.watched_label}_share": (recent_watched / recent_n) if recent_n else None,
            },
        }

    def close(self) -> None:
        self.client.close()


def _stored_document(row: Sequence[Any]) -> StoredDocument:
    """A `documents` row (COLUMNS order) as the read API's model."""
    values = dict(zip(COLUMNS, row, strict=True))

    def score(task: Task) -> TaskScore:
        if reason := values[task.unscored_column]:
            return TaskScore(label=None, probs={}, model=None, unscored=reason)
        probs = {label: float(values[task.probability_column(label)]) for label in task.labels}
        return TaskScore(label=values[task.name], probs=probs, model=values[task.model_column])

    fields: dict[str, Any] = {
        name: values[name] for name in ("id", "source", "kind", "lang", "url", "metadata", "text", "detected_lang")
    }
    fields["lang_confidence"] = float(values["lang_confidence"])
    fields.update((name, as_utc(values[name])) for name in ("published_at", "enqueued_at", "ingested_at"))
    fields.update((task.name, score(task)) for task in tasks())
    return StoredDocument(**fields)

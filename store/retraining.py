"""The store's side of retraining: the `labels` table, the reads the retraining job needs, and the
`model_versions` audit table.

It shares the worker's client (chDB allows one engine per process, and the worker owns it) and,
like DocumentStore, is synchronous: the worker calls it on its store thread (store/executor.py). Every read
deduplicates with FINAL, so a label or a decision re-delivered after a crash is counted once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bloomwatch.schemas import LabelEvent
from bloomwatch.tasks import task
from bloomwatch.timestamps import as_utc
from store.connect import StoreClient, command_count
from store.documents import INSERT_SETTINGS
from store.tables import DOCUMENTS, LABELS, MODEL_VERSIONS

LABEL_COLUMNS = ("document_id", "task", "label", "text", "annotator", "labelled_at", "enqueued_at", "ingested_at")
AUDIT_COLUMNS = (
    "run_id", "task", "version", "parent", "trigger", "decision", "reason", "labels_total", "labels_train",
    "labels_holdout", "replay_examples", "metrics", "started_at", "finished_at",
)  # fmt: skip


def _normalised(column: str) -> str:
    """training.data.normalise_text in ClickHouse SQL: whitespace runs collapsed, lowercased."""
    return f"lowerUTF8(arrayStringConcat(splitByWhitespace({column}), ' '))"


def _task_columns(name: str) -> tuple[str, list[str], str]:
    """(predicted-label column, probability columns in label order, model column) of a task;
    looking the task up in the table also keeps these names safe to put in SQL."""
    scored = task(name)
    return scored.name, [scored.probability_column(label) for label in scored.labels], scored.model_column


def _unscored_column(name: str) -> str:
    return task(name).unscored_column


def _iso(value: Any) -> str:
    """A time read back as ISO 8601 UTC; a naive one is UTC already (never converted via local time)."""
    return as_utc(value).isoformat() if isinstance(value, datetime) else str(value)


class RetrainStore:
    def __init__(self, client: StoreClient):
        self.client = client

    # --- labels ---------------------------------------------------------------------------------

    def insert_labels(self, events: Sequence[tuple[LabelEvent, datetime]]) -> None:
        """(label, Kafka timestamp) pairs; a retried or replayed batch is dropped whole by its token."""
        if not events:
            return
        now = datetime.now(UTC)
        rows = [
            [e.document_id, e.task, e.label, e.text, e.annotator, e.labelled_at.astimezone(UTC), enqueued_at, now]
            for e, enqueued_at in events
        ]
        digest = hashlib.sha256()
        for e, _ in sorted(events, key=lambda pair: (pair[0].task, pair[0].document_id)):
            digest.update(f"{e.task}\x00{e.document_id}\x00{e.label}\x00{e.labelled_at.isoformat()}\x01".encode())
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": digest.hexdigest()}
        self.client.insert(LABELS, rows, column_names=list(LABEL_COLUMNS), settings=settings)

    def label_count(self, task: str) -> int:
        return command_count(
            self.client, f"SELECT count() FROM {LABELS} FINAL WHERE task = {{t:String}}", parameters={"t": task}
        )

    def labelled_examples(self, task: str, after: str = "", limit: int | None = None) -> list[dict[str, Any]]:
        """The labels of `task` by document_id, those after `after`, at most `limit` (None: all),
        with their text (the label's own, else the stored document's), source, `unscored`: why
        the task left the stored document unscored (bloomwatch.tasks.Unscored), else None, and
        `model`: the model that scored it (None: not stored, or unscored). Labels
        whose text is unknown come back with text None; the job reports both kinds and trains on neither.

        Paged by key (document_id is unique per task under FINAL), not by offset: a page costs
        the same however deep it is."""
        page = "task = {t:String} AND document_id > {after:String}" + (
            " ORDER BY document_id LIMIT {n:UInt32}" if limit else ""
        )
        result = self.client.query(
            "SELECT l.document_id, l.label, if(l.text IS NULL, d.text, l.text), d.source, l.labelled_at, d.unscored,"
            " d.model"
            f" FROM (SELECT * FROM {LABELS} FINAL WHERE {page}) AS l"
            f" LEFT JOIN (SELECT id, text, source, {_unscored_column(task)} AS unscored,"
            f"  {_task_columns(task)[2]} AS model FROM {DOCUMENTS} FINAL"
            f"  WHERE id IN (SELECT document_id FROM {LABELS} FINAL WHERE {page})) AS d"  # primary key: no full scan
            " ON l.document_id = d.id"
            " ORDER BY l.document_id",
            parameters={"t": task, "after": after, **({"n": limit} if limit else {})},
            settings={"join_use_nulls": 1},
        )
        return [
            {
                "document_id": i,
                "label": label,
                "text": text,
                "source": source or "labels",
                "labelled_at": _iso(at),
                "unscored": unscored or None,
                "model": model or None,
            }  # fmt: skip
            for i, label, text, source, at, unscored, model in result.result_rows
        ]

    def unlabelled_predictions(self, task: str, pool: int) -> list[dict[str, Any]]:
        """The `pool` most recent stored documents `task` scored and nobody has labelled for it, under
        their id or another one with the same normalised text, with their predicted probabilities:
        the candidates the active-learning queue ranks (a retrain keeps one label per text)."""
        predicted, prob_columns, model = _task_columns(task)
        labelled = f"SELECT document_id FROM {LABELS} FINAL WHERE task = {{t:String}}"
        result = self.client.query(
            f"SELECT id, source, text, {predicted}, {model}, [{', '.join(prob_columns)}] FROM {DOCUMENTS} FINAL"
            f" WHERE {_unscored_column(task)} = '' AND id NOT IN ({labelled}) AND {_normalised('text')} NOT IN ("
            f"  SELECT {_normalised('text')} FROM {DOCUMENTS} FINAL WHERE id IN ({labelled})"
            f"  UNION ALL SELECT {_normalised('assumeNotNull(text)')} FROM {LABELS} FINAL WHERE task = {{t:String}} AND text IS NOT NULL)"
            " ORDER BY published_at DESC LIMIT {pool:UInt32}",
            parameters={"t": task, "pool": pool},
        )
        return [
            {"document_id": i, "source": s, "text": text, "predicted": p, "model": m, "probs": list(probs)}
            for i, s, text, p, m, probs in result.result_rows
        ]

    def prediction_summary(self, task: str, model: str, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
        """Per source, over documents published in [since, until) and scored by `model`: the
        predicted-label counts and the mean confidence (top probability). Drift compares two of these."""
        predicted, prob_columns, model_column = _task_columns(task)
        result = self.client.query(
            f"SELECT source, {predicted}, count(), avg(greatest({', '.join(prob_columns)})) FROM {DOCUMENTS} FINAL"
            f" WHERE {model_column} = {{m:String}}"
            " AND published_at >= {since:DateTime64(3, 'UTC')} AND published_at < {until:DateTime64(3, 'UTC')}"
            " GROUP BY source, " + predicted,
            parameters={"m": model, "since": since, "until": until},
        )
        out: dict[str, dict[str, Any]] = {}
        for source, label, n, confidence in result.result_rows:
            entry = out.setdefault(source, {"n": 0, "counts": {}, "confidence_sum": 0.0})
            entry["n"] += int(n)
            entry["counts"][label] = int(n)
            entry["confidence_sum"] += float(confidence) * int(n)
        return {
            source: {"n": e["n"], "counts": e["counts"], "mean_confidence": e["confidence_sum"] / e["n"]}
            for source, e in out.items()
        }

    # --- audit ----------------------------------------------------------------------------------

    def record_decision(self, row: dict[str, Any]) -> None:
        """One `model_versions` row (see store/ddl.sql); re-sending the same run_id is idempotent."""
        values = [
            json.dumps(row[c]) if c == "metrics" else datetime.fromisoformat(row[c]) if c.endswith("_at") else row[c]
            for c in AUDIT_COLUMNS
        ]
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"{row['run_id']}:{row['decision']}"}
        self.client.insert(MODEL_VERSIONS, [values], column_names=list(AUDIT_COLUMNS), settings=settings)

    def decision_counts(self) -> list[tuple[str, str, str, int]]:
        """(task, trigger, decision, runs) over the whole audit table: what /metrics exports."""
        result = self.client.query(
            f"SELECT task, trigger, decision, count() FROM {MODEL_VERSIONS} FINAL GROUP BY task, trigger, decision"
        )
        return [(task, trigger, decision, int(n)) for task, trigger, decision, n in result.result_rows]

    def decisions(self, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest decisions first."""
        result = self.client.query(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {MODEL_VERSIONS} FINAL"
            " WHERE {t:String} = '' OR task = {t:String} ORDER BY started_at DESC LIMIT {n:UInt32}",
            parameters={"t": task or "", "n": limit},
        )
        rows = []
        for values in result.result_rows:
            row = dict(zip(AUDIT_COLUMNS, values, strict=True))
            row["metrics"] = json.loads(row["metrics"] or "{}")
            row["started_at"], row["finished_at"] = _iso(row["started_at"]), _iso(row["finished_at"])
            rows.append(row)
        return rows

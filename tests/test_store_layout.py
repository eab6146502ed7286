"""The `documents` layout (sorted by hour published, then id): re-delivered and re-sent documents
still collapse to one row each, so totals and the dashboard series equal `count() FINAL`; a store
made with the earlier `ORDER BY id` keeps working and `bloomwatch documents migrate` rebuilds it.

Each scenario runs in a fresh interpreter (a chDB directory belongs to one process at a time) and
answers JSON; the tests assert on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dashboard_support import legacy_documents_ddl, run_python

from app.processes import bloomwatch_command

if TYPE_CHECKING:
    from bloomwatch.tasks import Task

N = 300


def rows(ids: range, *, start: datetime, model: str, shift: timedelta = timedelta(0)) -> list[list]:
    """Store rows for doc-<i>, one a minute from `start` (+ `shift`), scored by `model`."""
    from bloomwatch.language import language_of
    from bloomwatch.prediction import Prediction
    from bloomwatch.schemas import Document
    from bloomwatch.tasks import tasks
    from store.documents import document_row

    def prediction(task: Task, i: int) -> Prediction:
        labels = task.labels
        return Prediction(
            label=labels[i % len(labels)],
            probs={label: 1 / len(labels) for label in labels},
            model_version=f"{task.name}-{model}",
        )

    out = []
    for i in ids:
        published_at = start + timedelta(minutes=i) + shift
        document = Document(
            id=f"doc-{i}", source=f"src-{i % 3}", kind="news", text=f"text {i}", published_at=published_at
        )
        predictions = {task.name: prediction(task, i) for task in tasks()}
        out.append(document_row(document, predictions, language_of(document.text), published_at))
    return out


def panel_sums(client, start: datetime, end: datetime) -> dict[str, int]:
    """Documents counted by the dashboard panels over [start, end)."""
    from dashboards.data import DashboardData
    from dashboards.filters import Filters

    data, filters = DashboardData(client), Filters(start=start, end=end)
    return {
        "totals": data.query("totals", filters)["documents"][0],
        "volume": sum(data.query("volume", filters)["documents"]),
        "sentiment_by_source": sum(data.query("sentiment_by_source", filters)["documents"]),
        "topic_mix": sum(data.query("topic_mix", filters)["documents"]),
        "documents_page": len(data.query("documents", Filters(start=start, end=end, limit=1000))["id"]),
    }


def redelivery_scenario(dsn: str, start_iso: str) -> None:
    """Insert, re-deliver, re-score and re-send documents through DocumentStore.insert (the worker's path)."""
    from store.connect import open_client
    from store.documents import DocumentStore

    start = datetime.fromisoformat(start_iso)
    store = DocumentStore(open_client(dsn))
    store.ensure_schema()
    client = store.client
    store.insert(rows(range(N), start=start, model="v1"))  # five hours of documents
    store.insert(rows(range(N), start=start, model="v1"))  # the same batch again: a retried insert
    store.insert(rows(range(0, 100), start=start, model="v2"))  # re-scored by a newer model
    store.insert(rows(range(100, 150), start=start, model="v3", shift=timedelta(hours=2)))  # re-sent with a later time
    moved_in_batch = rows(range(N, N + 1), start=start, model="v1") + rows(
        range(N, N + 1), start=start, model="v1", shift=timedelta(hours=3)
    )
    store.insert(moved_in_batch)  # one new id twice in one batch, three hours apart
    end = start + timedelta(hours=8)
    final = {
        "raw": int(client.command("SELECT count() FROM documents")),
        "final": store.count(),
        "unique_ids": int(client.command("SELECT uniqExact(id) FROM documents")),
        "models": dict(client.query("SELECT sentiment_model, count() FROM documents FINAL GROUP BY 1").result_rows),
        "panels": panel_sums(client, start, end),
        "moved": store.get_document("doc-120").model_dump(mode="json"),
        "in_batch": store.get_document(f"doc-{N}").model_dump(mode="json"),
    }
    client.command("OPTIMIZE TABLE documents FINAL")
    merged = {
        "raw": int(client.command("SELECT count() FROM documents")),
        "projection_rows": int(
            client.command(
                "SELECT sum(rows) FROM system.projection_parts WHERE table = 'documents' AND name = 'by_id' AND active"
            )
        ),
        "panels": panel_sums(client, start, end),
    }
    print(json.dumps({"before_merge": final, "after_merge": merged}))


def test_redelivered_and_resent_documents_count_once(tmp_path):
    start = (datetime.now(UTC) - timedelta(hours=6)).replace(minute=30, second=0, microsecond=0)
    out = json.loads(run_python("from test_store_layout import redelivery_scenario; redelivery_scenario(sys.argv[1], sys.argv[2])",
                                f"chdb://{tmp_path / 'chdb'}", start.isoformat()))  # fmt: skip
    before, after = out["before_merge"], out["after_merge"]
    unique = N + 1
    assert before["raw"] > unique  # the replaced versions are still stored: FINAL is what collapses them
    assert before["final"] == before["unique_ids"] == unique
    assert before["models"] == {"sentiment-v1": N + 1 - 150, "sentiment-v2": 100, "sentiment-v3": 50}
    assert before["panels"] == {name: unique for name in before["panels"]}
    # the re-sent version won (newer model) but kept the time it was first stored with, so it
    # replaced the first version on the same sorting key instead of counting in another hour
    assert before["moved"]["sentiment"]["model"] == "sentiment-v3"
    assert datetime.fromisoformat(before["moved"]["published_at"]) == start + timedelta(minutes=120)
    assert datetime.fromisoformat(before["in_batch"]["published_at"]) == start + timedelta(minutes=N)
    assert after["raw"] == unique  # a merge leaves one row per id
    assert after["projection_rows"] == unique  # and the by_id projection was rebuilt with it
    assert after["panels"] == before["panels"]


def legacy_store(dsn: str, start_iso: str) -> None:
    """A store as the earlier version made it (ORDER BY id, no projection), written by this version."""
    from store.connect import open_client
    from store.documents import COLUMNS, DocumentStore

    start = datetime.fromisoformat(start_iso)
    store = DocumentStore(open_client(dsn))
    store.client.command(legacy_documents_ddl())
    earlier = [c for c in COLUMNS if c not in ("detected_lang", "lang_confidence")]  # the last two
    (row,) = rows(range(1), start=start, model="v0")
    row[COLUMNS.index("ingested_at")] = start  # DocumentStore.insert would set it
    store.client.insert("documents", [row[: len(earlier)]], column_names=earlier)
    store.ensure_schema()  # leaves the existing table's layout as it is, adds the language columns
    earlier_row = store.client.query(
        "SELECT detected_lang, lang_confidence FROM documents WHERE id = 'doc-0'"
    ).result_rows[0]
    store.insert(rows(range(N), start=start, model="v1"))
    store.insert(rows(range(50), start=start, model="v2"))
    print(json.dumps({**_layout(store), "earlier_row_language": list(earlier_row)}))


def migrated_store(dsn: str, start_iso: str) -> None:
    from store.connect import open_client
    from store.documents import DocumentStore

    store = DocumentStore(open_client(dsn))
    start = datetime.fromisoformat(start_iso)
    store.insert(rows(range(N - 10, N + 10), start=start, model="v3"))  # 10 replace, 10 are new
    print(json.dumps({**_layout(store), "panels": panel_sums(store.client, start, start + timedelta(hours=8))}))


def _layout(store) -> dict:
    from store.migration import current_sorting_key, layout_outdated

    models = store.client.query("SELECT sentiment_model, count() FROM documents FINAL GROUP BY 1").result_rows
    return {
        "key": current_sorting_key(store.client),
        "outdated": layout_outdated(store.client),
        "final": store.count(),
        "models": dict(models),
    }


def test_earlier_layout_keeps_working_and_migrates(tmp_path):
    dsn, start = (
        f"chdb://{tmp_path / 'chdb'}",
        (datetime.now(UTC) - timedelta(hours=6)).replace(second=0, microsecond=0),
    )
    scenario = "from test_store_layout import {0}; {0}(sys.argv[1], sys.argv[2])"
    legacy = json.loads(run_python(scenario.format("legacy_store"), dsn, start.isoformat()))
    assert legacy == {
        "key": "id",
        "outdated": True,
        "final": N,
        "models": {"sentiment-v1": N - 50, "sentiment-v2": 50},
        "earlier_row_language": ["und", 0.0],
    }

    env = {"BLOOMWATCH_CLICKHOUSE_DSN": dsn, "BLOOMWATCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}

    def migrate():
        return subprocess.run(
            bloomwatch_command("documents", "migrate"),
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": ":".join(sys.path)},
            timeout=180,
        )

    first, second = migrate(), migrate()
    assert first.returncode == 0 and f"documents rebuilt: {N} documents" in first.stdout, first.stderr[-2000:]
    assert second.returncode == 0 and "already has the current layout" in second.stdout, second.stderr[-2000:]

    migrated = json.loads(run_python(scenario.format("migrated_store"), dsn, start.isoformat()))
    assert migrated["key"] == "toStartOfHour(published_at), id" and not migrated["outdated"]
    assert migrated["final"] == N + 10
    assert migrated["models"] == {"sentiment-v1": N - 50 - 10, "sentiment-v2": 50, "sentiment-v3": 20}
    assert migrated["panels"] == {name: N + 10 for name in migrated["panels"]}

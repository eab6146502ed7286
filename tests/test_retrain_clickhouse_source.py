"""Server mode's retraining read path: the job queries ClickHouse itself (ClickHouseSource), not the
worker's API, and writes its model_versions rows there. No ClickHouse server can run here, so the
same client code runs on chDB through clickhouse-connect's chdb DSN, on a store filled by the
worker's own store code (DocumentStore.insert, RetrainStore.insert_labels).

chDB allows one engine per process: this is the one test file that opens chDB in the pytest
process (the others open it in subprocesses), and every test here shares its one directory.
"""

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.exceptions import ClickHouseError
from conftest import build_tiny_classifier

from bloomwatch.language import language_of
from bloomwatch.net import free_port
from bloomwatch.prediction import Prediction
from bloomwatch.schemas import Document, LabelEvent
from bloomwatch.settings import Settings
from bloomwatch.tasks import labels_for
from store.connect import open_client
from store.documents import DocumentStore, document_row
from store.retraining import RetrainStore
from training.registry import Registry
from training.retrain.job import labels_since_last_run, rollback_row, run_retrain
from training.retrain.schedule import drift_trigger
from training.retrain.source import ClickHouseSource, open_source
from training.retrain.splits import stored_reference
from training.retrain.worker_api import WorkerAPI

NOW = datetime.now(UTC)
TOPIC = Prediction(label="world", probs={label: 0.25 for label in labels_for("topic")}, model_version="topic-v1")


def _sentiment(label: str, top: float, model: str = "sentiment-v1") -> Prediction:
    rest = (1 - top) / 2
    return Prediction(
        label=label, probs={x: top if x == label else rest for x in labels_for("sentiment")}, model_version=model
    )


def _rows(prefix: str, source: str, published_at: datetime, labels: list[str], top: float) -> list[list]:
    return [
        document_row(
            Document(
                id=f"{prefix}-{i}", source=source, kind="news", text=f"{prefix} text {i}", published_at=published_at
            ),
            {"sentiment": _sentiment(label, top), "topic": TOPIC},
            language_of(f"{prefix} text {i}"),
            published_at,
        )
        for i, label in enumerate(labels)
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain-clickhouse")
    dsn = f"chdb://{root / 'chdb'}"
    store = DocumentStore(open_client(dsn))
    store.ensure_schema()
    # drift-wire: balanced and sure two hours ago, all negative and unsure in the last minutes
    store.insert(_rows("ref", "drift-wire", NOW - timedelta(hours=2), ["negative", "neutral", "positive"] * 20, 0.9))
    store.insert(_rows("new", "drift-wire", NOW - timedelta(minutes=5), ["negative"] * 60, 0.5))
    store.insert(_rows("calm", "calm-shop", NOW - timedelta(minutes=5), ["positive"] * 5, 0.9))  # too few to judge
    labelled_again = Document(
        id="copy-of-labelled",
        source="calm-shop",
        kind="news",
        text="  it BROKE  at once.",
        published_at=NOW - timedelta(hours=3),
    )
    store.insert(
        [
            document_row(
                labelled_again,
                {"sentiment": _sentiment("negative", 0.9), "topic": TOPIC},
                language_of(labelled_again.text),
                NOW - timedelta(hours=3),
            )
        ]
    )
    first = [
        (
            LabelEvent(document_id="new-0", task="sentiment", label="positive", labelled_at=NOW - timedelta(hours=1)),
            NOW,
        ),
        (LabelEvent(document_id="new-1", task="sentiment", label="neutral", annotator="ann"), NOW),
        (LabelEvent(document_id="never-streamed", task="sentiment", label="negative", text="It broke at once."), NOW),
        (LabelEvent(document_id="unknown", task="sentiment", label="positive"), NOW),  # no text anywhere
        (LabelEvent(document_id="new-2", task="topic", label="sports"), NOW),
    ]
    labels = RetrainStore(store.client)
    labels.insert_labels(first)
    labels.insert_labels(first)  # a re-delivered batch
    labels.insert_labels([(LabelEvent(document_id="new-0", task="sentiment", label="negative"), NOW)])  # a correction
    registry = Registry(root / "registry")
    registry.register(
        "sentiment", lambda d: build_tiny_classifier("sentiment", d), manifest={"method": "none"}, metrics={}
    )
    settings = Settings(home=root / "home", clickhouse_dsn=dsn, retrain_drift_min_docs=30)
    source = ClickHouseSource(settings)
    yield source, registry, settings
    source.close()
    store.close()


def test_the_dsn_chooses_the_worker_in_embedded_mode_and_clickhouse_in_server_mode(tmp_path):
    embedded = open_source(Settings(home=tmp_path, clickhouse_dsn=f"chdb://{tmp_path / 'chdb'}"))
    assert isinstance(embedded, WorkerAPI)
    port = free_port()  # nothing listens: server mode must try ClickHouse there, not a worker
    with pytest.raises(ClickHouseError, match=str(port)):
        open_source(Settings(home=tmp_path, clickhouse_dsn=f"http://user:secret@127.0.0.1:{port}/default"))


def test_labels_are_read_once_each_with_the_latest_label_and_the_documents_text(world):
    source, _, _ = world
    labels = {row["document_id"]: row for row in source.labels("sentiment")}
    assert {i: (r["label"], r["text"], r["source"]) for i, r in labels.items()} == {
        "new-0": ("negative", "new text 0", "drift-wire"),  # corrected; text and source from documents
        "new-1": ("neutral", "new text 1", "drift-wire"),
        "never-streamed": ("negative", "It broke at once.", "labels"),
        "unknown": ("positive", None, "labels"),  # reported by the job as labels_without_text
    }
    assert datetime.fromisoformat(labels["new-1"]["labelled_at"]).tzinfo is not None
    assert [row["document_id"] for row in source.labels("topic")] == ["new-2"]


def test_unlabelled_documents_carry_the_scores_a_retrain_without_its_training_data_rehearses(world):
    source, _, settings = world
    documents = source.unlabelled("sentiment", 1000)
    ids = {d["document_id"] for d in documents}
    assert len(ids) == 60 + 60 + 5 - 2 and not ids & {"new-0", "new-1"}  # the labelled ones are not offered
    assert "copy-of-labelled" not in ids  # nor another id's copy of a labelled text ("It broke at once.")
    assert {d["model"] for d in documents} == {"sentiment-v1"}
    reference = stored_reference(documents, "sentiment-v1", labels_for("sentiment"), set(), settings.retrain)
    kept = {e.text for e in reference.train + reference.val + reference.test}
    assert len(kept) == 65 and not any(t.startswith("new ") for t in kept)  # 0.5 sure: below the 0.8 bar


def test_prediction_summary_feeds_the_drift_trigger(world):
    source, registry, settings = world
    summary = source.prediction_summary("sentiment", "sentiment-v1", NOW - timedelta(minutes=10), NOW)
    assert summary["drift-wire"]["counts"] == {"negative": 60} and summary["calm-shop"]["n"] == 5
    assert summary["drift-wire"]["mean_confidence"] == pytest.approx(0.5)
    assert source.prediction_summary("sentiment", "sentiment-v9", NOW - timedelta(hours=3), NOW) == {}
    trigger = drift_trigger("sentiment", settings.retrain, source, registry, NOW + timedelta(seconds=1))
    assert trigger is not None and "drift-wire: PSI" in trigger.detail and "calm-shop" not in trigger.detail


def test_the_job_writes_its_model_versions_rows_to_clickhouse_once_each(world):
    source, registry, settings = world
    trained = {**rollback_row("sentiment", undone="v0", restored="v1"), "trigger": "labels", "decision": "promoted",
               "version": "v1", "labels_total": 3, "metrics": {"max_drop": 0.01}}  # fmt: skip
    source.record(trained)
    source.record(trained)  # a retried write
    skipped = run_retrain(
        "sentiment", "schedule", settings=settings.retrain, source=source, registry=registry, detail="cron"
    )
    assert skipped["decision"] == "skipped" and "no new labels" in skipped["reason"]
    drifted = run_retrain(
        "sentiment", "drift", settings=settings.retrain, source=source, registry=registry, detail="drift-wire: PSI"
    )
    failed = run_retrain("topic", "manual", settings=settings.retrain, source=source, registry=registry)
    assert failed["decision"] == "failed" and "no current topic model" in failed["reason"]

    decisions = source.decisions("sentiment")
    assert [d["run_id"] for d in decisions] == [drifted["run_id"], skipped["run_id"], trained["run_id"]]
    latest = decisions[1]
    assert (latest["trigger"], latest["parent"], latest["labels_total"]) == ("schedule", "v1", 3)
    assert latest["metrics"]["trigger_detail"] == "cron" and latest["metrics"]["labels_without_text"] == 1
    assert datetime.fromisoformat(latest["finished_at"]) >= datetime.fromisoformat(latest["started_at"])
    assert decisions[2]["metrics"] == {"max_drop": 0.01}
    assert labels_since_last_run(3, decisions) == 0
    assert (
        drift_trigger("sentiment", settings.retrain, source, registry, NOW + timedelta(seconds=1)) is None
    )  # fired once
    assert [d["decision"] for d in source.decisions("topic")] == ["failed"]

    # what a worker sharing this ClickHouse exports at /metrics, though it saw none of these writes
    from prometheus_client import generate_latest

    from streams import metrics

    metrics.RETRAIN_DECISIONS.counts = source.store.decision_counts()
    exported = generate_latest(metrics.REGISTRY).decode()
    for labels in ('decision="promoted",task="sentiment",trigger="labels"} 1.0', 'decision="skipped",task="sentiment",trigger="schedule"} 1.0',
                   'decision="failed",task="topic",trigger="manual"} 1.0'):  # fmt: skip
        assert "bloomwatch_retrain_decisions_total{" + labels in exported

"""Labels in: `bloomwatch label FILE` and POST /labels validate and report like `publish`; the
worker stores label events in the labels table (deduplicated, a correction replaces the earlier
label) and dead-letters what cannot be a label. A real broker and worker; no classifier is needed."""

import os
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pipeline_support import Deployment, wait_until

from app.processes import bloomwatch_command
from bloomwatch.schemas import LabelEvent

JSON = {"Content-Type": "application/json"}  # state-changing requests must say so (bloomwatch/browser.py)

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def deployment(kafka_broker, tmp_path_factory):
    # the classifier URLs point nowhere: labels never go through a classifier
    deployment = Deployment(tmp_path_factory.mktemp("labels"), kafka_broker, "http://127.0.0.1:9", "http://127.0.0.1:9")
    worker = deployment.start_worker()
    yield deployment
    worker.stop()


def _labels(deployment: Deployment, task: str = "sentiment") -> dict[str, str]:
    rows = httpx.get(f"{deployment.api}/api/labels", params={"task": task}, timeout=10).json()["labels"]
    return {row["document_id"]: row["label"] for row in rows}


def test_label_file_and_post_labels_are_validated_stored_once_and_corrected(deployment, tmp_path):
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text(
        "document_id,task,label,text\n"
        "a1,sentiment,negative,The battery died on day one.\n"
        "a2,sentiment,,Unlabelled row left by the annotator.\n"
        "a3,sentiment,positive,\n"
        "a4,weather,sunny,Nice day.\n"
    )
    env = {**os.environ, **deployment.env}
    run = subprocess.run(
        bloomwatch_command("label", str(labels_csv)), env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "2 accepted, 2 rejected" in run.stderr
    assert "line 3 (id a2): label: Field required" in run.stderr
    assert "line 5 (id a4): task: Value error, unknown task 'weather'; known tasks: sentiment, topic" in run.stderr

    # the dashboard's one-click correction: exactly one LabelEvent as JSON
    correction = LabelEvent(document_id="a1", task="sentiment", label="neutral", annotator="analyst")
    response = httpx.post(f"{deployment.api}/labels", content=correction.model_dump_json(), headers=JSON, timeout=30)
    assert response.status_code == 200 and response.json()["accepted_ids"] == ["a1"]
    batch = [{"document_id": "b1", "task": "topic", "label": "sports", "text": "A late goal won it."},
             {"document_id": "b2", "task": "topic", "label": "negative"}]  # fmt: skip
    body = httpx.post(f"{deployment.api}/labels", json=batch, timeout=30).json()
    assert (
        body["accepted"] == 1
        and body["rejected"][0]["index"] == 1
        and "not a topic label" in body["rejected"][0]["reason"]
    )
    assert httpx.post(f"{deployment.api}/labels", content=b"[oops", headers=JSON, timeout=10).status_code == 400

    both_tasks = lambda: (_labels(deployment), _labels(deployment, "topic"))  # noqa: E731
    expected = ({"a1": "neutral", "a3": "positive"}, {"b1": "sports"})
    wait_until(lambda: both_tasks() == expected, 60, "labels of both tasks stored, a1 corrected")
    # re-publishing the same event (a retry, a replay) changes nothing
    stored = deployment.labels_stored()
    again = httpx.post(f"{deployment.api}/labels", content=correction.model_dump_json(), headers=JSON, timeout=30)
    assert again.json()["accepted"] == 1
    wait_until(lambda: deployment.labels_stored() > stored, 60, "the re-published label stored")
    assert _labels(deployment) == {"a1": "neutral", "a3": "positive"}
    # an older label arriving late does not undo the correction
    stored = deployment.labels_stored()
    stale = LabelEvent(
        document_id="a1", task="sentiment", label="positive", labelled_at=datetime.now(UTC) - timedelta(days=1)
    )
    httpx.post(f"{deployment.api}/labels", content=stale.model_dump_json(), headers=JSON, timeout=30)
    wait_until(lambda: deployment.labels_stored() > stored, 60, "the stale label stored")
    assert _labels(deployment)["a1"] == "neutral"
    rows = httpx.get(f"{deployment.api}/api/labels", params={"task": "sentiment"}).json()["labels"]
    assert {r["document_id"]: r["text"] for r in rows}["a3"] is None  # never streamed, no text given: reported


def test_a_message_on_the_labels_topic_that_is_not_a_label_is_dead_lettered(deployment):
    deployment.publish_raw(
        deployment.settings.topic_labels,
        [(b"k", b"{not json"), (b"k2", b'{"document_id": "z", "task": "topic", "label": "rain"}')],
    )
    letters = deployment.read_dead_letters(expected=2)
    assert {letter["error_type"] for letter in letters} == {"not_json", "schema"}
    assert any("not a topic label" in letter["reason"] for letter in letters)


def test_the_workers_metrics_count_retrain_decisions_from_the_audit_table(deployment):
    from training.retrain.job import rollback_row

    row = rollback_row("topic", undone="topic-v2", restored="topic-v1")
    for _ in range(2):  # a re-sent audit row is one decision
        httpx.post(f"{deployment.api}/api/model-versions", json=row, timeout=30).raise_for_status()
    exported = httpx.get(f"{deployment.api}/metrics", timeout=30).text
    assert 'bloomwatch_retrain_decisions_total{decision="rolled_back",task="topic",trigger="rollback"} 1.0' in exported


@pytest.mark.parametrize(
    "query",
    ["pool=4294967295&n=1000000000", "pool=4294967295", "n=1000000000", "n=0", "pool=-1", f"n={'9' * 5000}", "n=ten"],
)
def test_the_labelling_queue_refuses_unbounded_reads(deployment, query):
    response = httpx.get(f"{deployment.api}/api/labels/queue?task=sentiment&{query}", timeout=30)
    assert response.status_code == 400 and ("between 1 and" in response.text or "integer" in response.text), (
        response.text
    )


def test_labels_come_a_bounded_page_at_a_time(deployment):
    from training.retrain.worker_api import WorkerAPI

    batch = [{"document_id": f"page-{i}", "task": "topic", "label": "world", "text": f"Item {i}."} for i in range(5)]
    assert httpx.post(f"{deployment.api}/labels", json=batch, timeout=30).json()["accepted"] == 5
    api = f"{deployment.api}/api/labels"
    all_ids = lambda: [r["document_id"] for r in httpx.get(api, params={"task": "topic"}, timeout=10).json()["labels"]]  # noqa: E731
    wait_until(lambda: {f"page-{i}" for i in range(5)} <= set(all_ids()), 60, "the labels stored")
    pages, after = [], "page-"  # ids sort after this cursor, before later prefixes
    while after is not None and after.startswith("page-"):
        page = httpx.get(api, params={"task": "topic", "after": after, "limit": 2}, timeout=10).json()
        assert page["count"] == len(page["labels"]) <= 2
        pages.append([r["document_id"] for r in page["labels"]])
        after = page["next_after"]
    assert pages[:3] == [["page-0", "page-1"], ["page-2", "page-3"], ["page-4"]]
    assert (
        WorkerAPI(deployment.api).labels("topic")
        == httpx.get(api, params={"task": "topic"}, timeout=10).json()["labels"]
    )
    for limit in ("0", "10001", "1" + "0" * 30):
        assert httpx.get(api, params={"task": "topic", "limit": limit}, timeout=10).status_code == 400

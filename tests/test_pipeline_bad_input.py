"""Bad input never crashes the worker and is never silently dropped: each bad message lands in the
dead-letter topic with a reason, duplicates are stored once, and the good messages around them
are all stored."""

import json

import httpx
import pytest

from pipeline_support import Deployment, metric_value, start_classifier, synthetic_documents, wait_until
from bloomwatch.net import free_port

pytestmark = pytest.mark.kafka


def _doc(doc_id, **fields):
    return {"id": doc_id, "source": "test", "kind": "news", "text": "A calm day on the markets.", **fields}


def _json(value) -> bytes:
    return json.dumps(value).encode()


# key -> (raw value, the reason it must be dead-lettered with)
BAD_MESSAGES: dict[str, tuple[bytes | None, str]] = {
    "not-json": (b"this is not json {", "not_json"),
    "tombstone": (None, "not_json"),
    "invalid-utf8": (b'{"id": "u1", "source": "s", "kind": "news", "text": "caf\xe9 \xff\xfe"}', "not_utf8"),
    "lone-surrogate": (_json(_doc("ls1", text="half a pair: \ud800")), "not_utf8"),  # json.dumps escapes it
    "json-array": (b'[{"id": "a1"}]', "not_an_object"),
    "empty-text": (_json(_doc("e1", text="   \n\t")), "empty_text"),
    "one-megabyte-text": (_json(_doc("big1", text="x" * 1_000_000)), "oversize"),
    "id-not-a-string": (_json(_doc(12345)), "wrong_type"),
    "text-not-a-string": (_json(_doc("t1", text=["a", "list"])), "wrong_type"),
    "missing-id": (_json({"source": "s", "kind": "news", "text": "no id here"}), "schema"),
    "unknown-kind": (_json(_doc("k1", kind="blog")), "schema"),
    "unknown-field": (_json(_doc("f1", sentiment="positive")), "schema"),
    "naive-timestamp": (_json(_doc("ts1", published_at="2026-01-01T00:00:00")), "schema"),
}


@pytest.fixture(scope="module")
def classifiers(tiny_registry, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("classifier-logs")
    ports = {"sentiment": free_port(), "topic": free_port()}
    servers = [start_classifier(task, tiny_registry.root, port, log_dir) for task, port in ports.items()]
    yield {"ports": ports, "registry": tiny_registry.root, "log_dir": log_dir}
    for server in servers:
        server.stop()


def test_bad_messages_are_dead_lettered_with_a_reason_and_the_rest_stored(kafka_broker, classifiers, tmp_path):
    deployment = Deployment(
        root=tmp_path,
        bootstrap=kafka_broker,
        sentiment_url=f"http://127.0.0.1:{classifiers['ports']['sentiment']}",
        topic_url=f"http://127.0.0.1:{classifiers['ports']['topic']}",
    )
    news = deployment.settings.topic_news
    good = synthetic_documents(200, prefix="good")
    duplicate = _doc("dup-1", text="The same story, delivered three times.")
    worker = deployment.start_worker()
    try:
        deployment.publish(good[:100])
        deployment.publish_raw(news, [(key.encode(), value) for key, (value, _) in BAD_MESSAGES.items()])
        deployment.publish_raw(news, [(b"dup-1", _json(duplicate))] * 3)
        deployment.publish(good[100:])
        # The worker also takes documents over HTTP (POST /documents); invalid ones are refused there.
        ingested = httpx.post(
            f"{deployment.api}/documents",
            json=[_doc("via-http", text="Posted to the worker's ingest endpoint."), _doc("bad-http", kind="blog")],
            timeout=30,
        ).json()

        wait_until(lambda: deployment.count() == len(good) + 2, 120, "good documents, one duplicate row, one via HTTP")
        deployment.wait_until_committed(120)  # every message handled: a second dead letter would be written by now
        records = deployment.read_dead_letters(expected=len(BAD_MESSAGES))
        assert worker.alive(), worker.log_tail()
        metrics = deployment.metrics()
    finally:
        worker.stop()

    by_key = {record["key"]: record for record in records}
    assert set(by_key) == set(BAD_MESSAGES), f"dead-lettered {sorted(by_key)}"
    for key, (value, reason) in BAD_MESSAGES.items():
        record = by_key[key]
        assert record["error_type"] == reason, (key, record["reason"])
        assert record["reason"].startswith(reason) and len(record["reason"]) > len(reason) + 2, record["reason"]
        assert record["topic"] == news
        assert record["value_bytes"] == (0 if value is None else len(value))
    assert len(records) == len(BAD_MESSAGES), "a bad message was dead-lettered twice"
    for reason in {reason for _, reason in BAD_MESSAGES.values()}:
        expected = sum(1 for _, r in BAD_MESSAGES.values() if r == reason)
        assert metric_value(metrics, "bloomwatch_documents_dead_lettered_total", reason=reason) == expected

    assert ingested["accepted_ids"] == ["via-http"]
    assert [r["id"] for r in ingested["rejected"]] == ["bad-http"] and "kind" in ingested["rejected"][0]["reason"]
    counts = deployment.stored_id_counts()
    assert set(counts) == {doc["id"] for doc in good} | {"dup-1", "via-http"}
    assert all(n == 1 for n in counts.values())


def test_a_document_the_classifier_keeps_rejecting_is_dead_lettered_alone(kafka_broker, classifiers, tmp_path):
    """Fault injected by configuration, not by a mock: this sentiment server accepts at most 200
    characters, so it answers 413 for the long documents, which the worker itself accepts. The
    worker bisects the batch down to them, dead-letters only them, and stores the rest."""
    port = free_port()
    strict = start_classifier(
        "sentiment", classifiers["registry"], port, classifiers["log_dir"], env={"BLOOMWATCH_MAX_TEXT_CHARS": "200"}
    )
    deployment = Deployment(
        root=tmp_path,
        bootstrap=kafka_broker,
        sentiment_url=f"http://127.0.0.1:{port}",
        topic_url=f"http://127.0.0.1:{classifiers['ports']['topic']}",
    )
    good = synthetic_documents(120, prefix="short")
    too_long = [_doc(f"long-{i}", text="word " * 100) for i in range(3)]
    worker = deployment.start_worker()
    try:
        deployment.publish(good[:60] + too_long + good[60:])
        records = deployment.read_dead_letters(expected=len(too_long))
        wait_until(lambda: deployment.count() == len(good), 120, "the short documents")
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
        strict.stop()
    assert sorted(record["document_id"] for record in records) == [doc["id"] for doc in too_long]
    for record in records:
        assert record["error_type"] == "processing_failed"
        assert "ClassifyRejected" in record["reason"] and "the limit is 200" in record["reason"], record["reason"]
    assert set(deployment.stored_id_counts()) == {doc["id"] for doc in good}

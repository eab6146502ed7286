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
    # issue 25: json.loads raised a plain ValueError, which ended the agent and lost the batch
    "huge-integer": (_json(_doc("p1"))[:-1] + b', "n": ' + b"7" * 5_000 + b"}", "not_json"),
    "year-one": (_json(_doc("y1", published_at="0001-01-01T00:00:00Z")), "schema"),  # DateTime64: 1900-2299
}


@pytest.fixture(scope="module")
def classifiers(tiny_registry, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("classifier-logs")
    ports = {"sentiment": free_port(), "topic": free_port()}
    servers = [start_classifier(task, tiny_registry.root, port, log_dir) for task, port in ports.items()]
    yield {"ports": ports, "registry": tiny_registry.root, "log_dir": log_dir}
    for server in servers:
        server.stop()


def _deployment(kafka_broker, classifiers, tmp_path) -> Deployment:
    """A deployment on the module's classifier servers."""
    return Deployment(
        root=tmp_path,
        bootstrap=kafka_broker,
        sentiment_url=f"http://127.0.0.1:{classifiers['ports']['sentiment']}",
        topic_url=f"http://127.0.0.1:{classifiers['ports']['topic']}",
    )


def test_bad_messages_are_dead_lettered_with_a_reason_and_the_rest_stored(kafka_broker, classifiers, tmp_path):
    deployment = _deployment(kafka_broker, classifiers, tmp_path)
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
    # English (a language the tiny models read), so the worker sends it to the classifier
    too_long = [_doc(f"long-{i}", text="The markets were calm again today. " * 8) for i in range(3)]
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


def _label(document_id: str, **fields) -> bytes:
    return _json({"document_id": document_id, "task": "sentiment", "label": "positive", **fields})


AUDIT_ROW = {
    "run_id": "r1", "task": "sentiment", "version": "v2", "parent": "v1", "trigger": "manual", "decision": "rejected",
    "reason": "test", "labels_total": 1, "labels_train": 1, "labels_holdout": 0, "replay_examples": 0, "metrics": {},
    "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
}  # fmt: skip
YEAR_ONE = "0001-01-01T00:00:00Z"
# (method, path, params, body) that once answered 500 (issue 25, item 9): each must get a 400
HOSTILE_REQUESTS = {
    "negative window": ("GET", "/api/stats", {"window_minutes": "-1"}, None),
    "20-digit limit": ("GET", "/api/alerts", {"limit": "9" * 20}, None),
    "search from year one": ("GET", "/api/documents/search", {"from": YEAR_ONE}, None),
    "summary since year one": (
        "GET",
        "/api/predictions/summary",
        {"task": "sentiment", "since": YEAR_ONE, "until": "2026-01-01T00:00:00Z"},
        None,
    ),
    "400-digit panel time": ("GET", "/api/dashboard/panels", {"from": "9" * 400}, None),
    "20-digit panel time": ("GET", "/api/dashboard/panels", {"from": "9" * 20}, None),
    "audit row not JSON": ("POST", "/api/model-versions", None, b"not json"),
    "audit row bad date": ("POST", "/api/model-versions", None, _json({**AUDIT_ROW, "started_at": "yesterday"})),
    "audit row year one": ("POST", "/api/model-versions", None, _json({**AUDIT_ROW, "finished_at": YEAR_ONE})),
    "nested documents": ("POST", "/documents", None, b"[" * 100_000 + b"]" * 100_000),
    "huge integer document": ("POST", "/documents", None, b'[{"id": "h", "n": ' + b"7" * 5_000 + b"}]"),
    "huge integer label": ("POST", "/labels", None, _label("h")[:-1] + b', "n": ' + b"7" * 5_000 + b"}"),
    "nested silence": ("POST", "/api/silences", None, b"[" * 100_000 + b"]" * 100_000),
    "huge integer silence": ("POST", "/api/silences", None, b'{"rule": "r", "n": ' + b"7" * 5_000 + b"}"),
}


def test_poison_labels_are_dead_lettered_and_hostile_requests_get_400(kafka_broker, classifiers, tmp_path):
    """Issue 25: a label no parser reads or dated where ClickHouse cannot store it is dead-lettered
    (it used to end the labels agent, or to make every later read of its task answer 500), the
    latest time it stores is kept; query values and bodies the store cannot take get a 400; in a
    batch holding one record too large for Kafka, every record is judged before any is sent.
    The worker lives through all of it."""
    deployment = _deployment(kafka_broker, classifiers, tmp_path)
    labels = deployment.settings.topic_labels
    worker = deployment.start_worker()
    try:
        deployment.publish_raw(labels, [
            (b"l1", _label("l1")),
            (b"poison", _label("p1")[:-1] + b', "n": ' + b"7" * 5_000 + b"}"),
            (b"year-one", _label("y1", labelled_at=YEAR_ONE)),
            (b"l2", _label("l2")),
            (b"l3", _label("l3", labelled_at="2299-12-31T23:59:59Z")),
        ])  # fmt: skip
        records = deployment.read_dead_letters(expected=2)
        wait_until(lambda: deployment.labels_stored() >= 3, 60, "the three valid labels")
        stored_labels = httpx.get(f"{deployment.api}/api/labels", params={"task": "sentiment"}, timeout=30)
        answers = {
            name: httpx.request(method, f"{deployment.api}{path}", params=params, content=body,
                                headers={"Content-Type": "application/json"}, timeout=60)
            for name, (method, path, params, body) in HOSTILE_REQUESTS.items()
        }  # fmt: skip
        batch = [_doc("m1"), _doc("m2"), _doc("m3", metadata={"blob": "x" * 1_100_000}), _doc("m4")]
        mixed = httpx.post(f"{deployment.api}/documents", json=batch, timeout=60)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()

    assert sorted((r["key"], r["error_type"]) for r in records) == [("poison", "not_json"), ("year-one", "schema")]
    assert "outside the range ClickHouse" in next(r["reason"] for r in records if r["key"] == "year-one")
    assert stored_labels.status_code == 200, stored_labels.text
    assert sorted(label["document_id"] for label in stored_labels.json()["labels"]) == ["l1", "l2", "l3"]
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(HOSTILE_REQUESTS, 400)
    assert all(answer.json().get("error") for answer in answers.values())
    assert mixed.status_code == 200, mixed.text
    assert mixed.json()["accepted_ids"] == ["m1", "m2", "m4"]
    assert [(r["id"], "metadata is" in r["reason"]) for r in mixed.json()["rejected"]] == [("m3", True)]

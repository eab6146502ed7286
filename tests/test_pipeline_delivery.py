"""Nothing lost, nothing counted twice: 5,000 documents through the real pipeline, with and
without a worker or a classifier server killed by SIGKILL in mid-stream.

Real broker, real chDB, real forward passes of tiny BLOOM classifiers served by `bloomwatch serve`
subprocesses, and the worker as a subprocess so it can be `kill -9`ed.
"""

import httpx
import pytest
from pipeline_support import (
    Deployment,
    metric_value,
    start_classifier,
    synthetic_documents,
    wait_until,
)

from bloomwatch.net import free_port

pytestmark = pytest.mark.kafka

N_DOCUMENTS = 5_000
DRAIN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def classifiers(tiny_registry, tmp_path_factory):
    """Both classifier servers on the tiny registry; a test may kill and restart one."""
    log_dir = tmp_path_factory.mktemp("classifier-logs")
    ports = {"sentiment": free_port(), "topic": free_port()}
    servers = {task: start_classifier(task, tiny_registry.root, port, log_dir) for task, port in ports.items()}
    yield {"servers": servers, "ports": ports, "registry": tiny_registry.root, "log_dir": log_dir}
    for server in servers.values():
        server.stop()


@pytest.fixture
def deployment(kafka_broker, classifiers, tmp_path):
    ports = classifiers["ports"]
    return Deployment(
        root=tmp_path,
        bootstrap=kafka_broker,
        sentiment_url=f"http://127.0.0.1:{ports['sentiment']}",
        topic_url=f"http://127.0.0.1:{ports['topic']}",
    )


def assert_every_id_once(deployment: Deployment, ids: list[str]) -> None:
    counts = deployment.stored_id_counts()
    missing = set(ids) - set(counts)
    assert not missing, f"{len(missing)} documents lost, e.g. {sorted(missing)[:5]}"
    assert set(counts) == set(ids), f"unexpected ids stored: {sorted(set(counts) - set(ids))[:5]}"
    doubled = {i: n for i, n in counts.items() if n != 1}
    assert not doubled, f"{len(doubled)} ids stored more than once after FINAL"


def test_every_published_document_is_stored_exactly_once(deployment):
    ids = deployment.publish(synthetic_documents(N_DOCUMENTS))
    worker = deployment.start_worker()
    try:
        wait_until(lambda: deployment.count() == N_DOCUMENTS, DRAIN_TIMEOUT_S, f"{N_DOCUMENTS} rows")
        metrics = deployment.metrics()
        assert metric_value(metrics, "bloomwatch_documents_dead_lettered_total") == 0
        assert metric_value(metrics, "bloomwatch_documents_classified_total", task="sentiment") >= N_DOCUMENTS
        assert metric_value(metrics, "bloomwatch_documents_stored_total") >= N_DOCUMENTS
        assert metric_value(metrics, "bloomwatch_documents_stored_by_language_total") == metric_value(
            metrics, "bloomwatch_documents_stored_total"
        )
        assert metric_value(metrics, "bloomwatch_publish_to_stored_seconds_count") >= N_DOCUMENTS
        assert "bloomwatch_consumer_lag{" in metrics and "bloomwatch_batch_size_bucket" in metrics
        stats = httpx.get(f"{deployment.api}/api/stats", timeout=10).json()
        assert stats["documents"] == N_DOCUMENTS
        assert stats["by_kind"] == {"news": N_DOCUMENTS // 2, "review": N_DOCUMENTS // 2}
        assert sum(stats["by_sentiment"].values()) == sum(stats["by_topic"].values()) == N_DOCUMENTS
        assert stats["recent"]["documents"] == N_DOCUMENTS  # published_at defaults to publish time
    finally:
        worker.stop()
    assert_every_id_once(deployment, ids)


@pytest.mark.slow
def test_worker_killed_mid_stream_loses_and_doubles_nothing(deployment):
    ids = deployment.publish(synthetic_documents(N_DOCUMENTS, prefix="kill9"))
    first = deployment.start_worker("worker-1")
    try:
        wait_until(lambda: deployment.count() >= N_DOCUMENTS // 4, DRAIN_TIMEOUT_S, "a quarter of the rows")
        stored_before_kill = deployment.count()
    finally:
        first.kill()
    assert stored_before_kill < N_DOCUMENTS, "the worker finished before it could be killed mid-stream"

    second = deployment.start_worker("worker-2")
    try:
        wait_until(lambda: deployment.count() == N_DOCUMENTS, DRAIN_TIMEOUT_S, f"{N_DOCUMENTS} rows after restart")
        consumed_again = metric_value(deployment.metrics(), "bloomwatch_documents_consumed_total")
    finally:
        second.stop()
    # The restarted worker resumes from the last committed offset, never from after it.
    assert stored_before_kill + consumed_again >= N_DOCUMENTS
    assert_every_id_once(deployment, ids)


@pytest.mark.slow
def test_classifier_killed_and_restarted_mid_stream_loses_nothing(deployment, classifiers):
    ids = deployment.publish(synthetic_documents(N_DOCUMENTS, prefix="clfkill"))
    worker = deployment.start_worker()
    servers = classifiers["servers"]
    try:
        wait_until(lambda: deployment.count() >= N_DOCUMENTS // 4, DRAIN_TIMEOUT_S, "a quarter of the rows")
        servers["sentiment"].kill()
        wait_until(
            lambda: metric_value(deployment.metrics(), "bloomwatch_batch_retries_total") > 0, 60, "a failed batch"
        )
        stalled_at = deployment.count()
        servers["sentiment"] = start_classifier(
            "sentiment", classifiers["registry"], classifiers["ports"]["sentiment"], classifiers["log_dir"]
        )
        wait_until(lambda: deployment.count() == N_DOCUMENTS, DRAIN_TIMEOUT_S, f"{N_DOCUMENTS} rows after restart")
        metrics = deployment.metrics()
        assert worker.alive()
        assert metric_value(metrics, "bloomwatch_documents_dead_lettered_total") == 0
    finally:
        worker.stop()
    assert stalled_at < N_DOCUMENTS
    assert_every_id_once(deployment, ids)

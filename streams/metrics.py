"""Prometheus metrics of the worker, served at GET /metrics on its web server.

Counters answer "is anything lost?" at a glance: consumed = stored + dead-lettered (+ in flight).
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric

REGISTRY = CollectorRegistry()

CONSUMED = Counter("bloomwatch_documents_consumed", "Messages read from the input topics", ["topic"], registry=REGISTRY)
CLASSIFIED = Counter("bloomwatch_documents_classified", "Documents scored, per task", ["task"], registry=REGISTRY)
UNSCORED = Counter(
    "bloomwatch_documents_unscored",
    "Documents stored without a score of a task, per task and reason (unsupported_language: no model of it reads the language)",
    ["task", "reason"],
    registry=REGISTRY,
)
STORED = Counter("bloomwatch_documents_stored", "Rows written to ClickHouse", ["kind"], registry=REGISTRY)
STORED_BY_LANGUAGE = Counter(
    "bloomwatch_documents_stored_by_language",
    "Rows written, by the language read from the text (und: undetermined)",
    ["lang"],
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "bloomwatch_documents_dead_lettered", "Messages sent to the dead-letter topic", ["reason"], registry=REGISTRY
)
CLASSIFY_TIMEOUTS = Counter(
    "bloomwatch_classify_timeouts",
    "Classify requests abandoned without an answer, per task",
    ["task"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "bloomwatch_batch_retries", "Failed attempts to classify and store a batch (retried)", ["error"], registry=REGISTRY
)
BATCH_SIZE = Histogram(
    "bloomwatch_batch_size",
    "Messages per consumed batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
CLASSIFY_LATENCY = Histogram(
    "bloomwatch_classify_latency_seconds",
    "One classify call for a batch, per task",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
    registry=REGISTRY,
)
STORE_LATENCY = Histogram(
    "bloomwatch_store_latency_seconds",
    "One ClickHouse insert for a batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
    registry=REGISTRY,
)
PUBLISH_TO_STORED = Histogram(
    "bloomwatch_publish_to_stored_seconds",
    "Kafka record timestamp to row written",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "bloomwatch_consumer_lag",
    "Messages behind the partition's end offset after the last batch",
    ["topic", "partition"],
    registry=REGISTRY,
)
LABELS_STORED = Counter("bloomwatch_labels_stored", "Label events written to the labels table", registry=REGISTRY)


class AuditedDecisions:
    """`bloomwatch_retrain_decisions_total{task,trigger,decision}`, read from the `model_versions`
    table rather than counted as decisions pass by: in server mode the retrain job writes to
    ClickHouse itself and no worker sees its decisions, and a re-sent audit row is one row. The
    worker's /metrics handler refreshes `counts` before each scrape (every worker sharing a
    ClickHouse server reports the same totals: aggregate them with max, not sum)."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, str, str, int]] = []

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bloomwatch_retrain_decisions",
            "Retraining runs recorded in model_versions, by decision (promoted, rejected, skipped, failed, rolled_back)",
            labels=["task", "trigger", "decision"],
        )
        for task, trigger, decision, n in self.counts:
            family.add_metric([task, trigger, decision], n)
        yield family


RETRAIN_DECISIONS = AuditedDecisions()
REGISTRY.register(RETRAIN_DECISIONS)

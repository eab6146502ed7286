"""`bloomwatch status`: what runs, where, and how far the pipeline has got.

Asks each component itself (Kafka's metadata and offsets, each classifier's /health, the worker's
API, ClickHouse), so it works the same for `bloomwatch up`, hand-started processes and server
mode. Every probe has a short timeout: a component that does not answer is reported as down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bloomwatch.access import client_headers
from bloomwatch.settings import Settings
from bloomwatch.tasks import Task, tasks
from store.errors import StoreUnreachable
from store.reader import count_documents
from streams.kafka_security import client_options

PROBE_TIMEOUT_S = 5.0


@dataclass
class Component:
    name: str
    running: bool
    where: str
    detail: str = ""


@dataclass
class PipelineStatus:
    components: list[Component]
    documents_stored: int | None  # None: the store could not be read
    documents_unscored: dict[str, dict[str, int]] | None  # task -> reason -> documents it left unscored
    store: str
    dead_lettered: int | None  # records in the dead-letter topic
    consumer_lag: dict[str, int] | None  # input topic (labels included) -> messages not yet committed by the workers
    logs: str
    problems: list[str] = field(default_factory=list)

    @property
    def all_running(self) -> bool:
        return all(component.running for component in self.components)

    def to_dict(self) -> dict:
        return {**asdict(self), "all_running": self.all_running}


def collect_status(settings: Settings) -> PipelineStatus:
    problems: list[str] = []
    kafka = _kafka(settings, problems)
    components = [kafka.component, *(_classifier(settings, task) for task in tasks()), _worker(settings)]
    try:
        stored, unscored = count_documents(settings)
    except (StoreUnreachable, httpx.HTTPError, OSError) as error:
        stored, unscored = None, None
        problems.append(f"documents: {error}")
    return PipelineStatus(
        components=components,
        documents_stored=stored,
        documents_unscored=unscored,
        store=settings.clickhouse_where,
        dead_lettered=kafka.dead_lettered,
        consumer_lag=kafka.lag,
        logs=str(settings.home / "logs"),
        problems=problems,
    )


@dataclass
class _KafkaFindings:
    component: Component
    dead_lettered: int | None = None
    lag: dict[str, int] | None = None


def _kafka(settings: Settings, problems: list[str]) -> _KafkaFindings:
    where = f"kafka://{settings.kafka_bootstrap}"
    try:
        dead, lag = asyncio.run(asyncio.wait_for(_offsets(settings), PROBE_TIMEOUT_S * 2))
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable", said plainly
        problems.append(f"Kafka: {error or type(error).__name__}")
        return _KafkaFindings(Component("kafka", False, where, "not reachable"))
    log = settings.home / "kafka" / "server.log"
    detail = f"broker log {log}" if log.exists() else ""
    return _KafkaFindings(Component("kafka", True, where, detail), dead, lag)


async def _offsets(settings: Settings) -> tuple[int, dict[str, int] | None]:
    """(records in the dead-letter topic, uncommitted messages per input topic for the worker group)."""
    timeout_ms = int(PROBE_TIMEOUT_S * 1000)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # an unreachable broker is reported once, by us
    kafka = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "request_timeout_ms": timeout_ms,
        **client_options(settings.kafka),
    }
    consumer = AIOKafkaConsumer(group_id=None, **kafka)
    admin = AIOKafkaAdminClient(**kafka)
    try:
        await consumer.start()
        await admin.start()
        consumed = [settings.topic_news, settings.topic_reviews, settings.topic_labels]
        described = await admin.describe_topics([*consumed, settings.topic_dead_letter])
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0  # a topic that does not exist yet has nothing to count
            for partition in topic["partitions"]
        ]
        inputs = sorted({tp.topic for tp in partitions} - {settings.topic_dead_letter})
        end = await consumer.end_offsets(partitions) if partitions else {}
        start = await consumer.beginning_offsets(partitions) if partitions else {}
        try:
            committed = await admin.list_consumer_group_offsets(settings.worker_group)
        except KafkaError:  # e.g. the coordinator is still starting: lag unknown, Kafka still up
            committed = None
    finally:
        await consumer.stop()
        await admin.close()
    dead = sum(end[tp] - start[tp] for tp in partitions if tp.topic == settings.topic_dead_letter)
    if committed is None:
        return dead, None
    lag = {topic: 0 for topic in inputs}
    for tp in partitions:
        if tp.topic in inputs:
            offset = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else start[tp]
            lag[tp.topic] += max(0, end[tp] - offset)
    return dead, lag


def _classifier(settings: Settings, task: Task) -> Component:
    name, url = f"classifier {task.name}", task.classifier_url(settings)
    try:
        response = httpx.get(f"{url}/health", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        return Component(name, False, url, f"not reachable ({type(error).__name__})")
    if response.status_code != 200:
        return Component(name, False, url, f"unhealthy (HTTP {response.status_code})")
    body = response.json()
    lines = body.get("lines") or {"": body.get("model", "?")}  # line -> model, main line first
    models = ", ".join(f"{model} (line {line})" if line else model for line, model in lines.items())
    return Component(name, True, url, f"model {models}")


def _worker(settings: Settings) -> Component:
    url = settings.worker_url
    try:
        healthy = (
            httpx.get(
                f"{url}/api/documents/count", headers=client_headers(settings.access), timeout=PROBE_TIMEOUT_S
            ).status_code
            == 200
        )
    except httpx.HTTPError as error:
        return Component("worker", False, url, f"not reachable ({type(error).__name__})")
    return Component("worker", healthy, url, f"API {url}/api/stats, metrics {url}/metrics")

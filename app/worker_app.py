"""The faust worker app: one agent over the input topics, one over labels, the read API and /metrics.

Offsets: the agent iterates with `noack_take`, which (unlike `take`) never acks on its own. faust
commits only acked offsets (the longest acked prefix of each partition, every
`broker_commit_interval`), and the agent acks a batch only after `BatchProcessor.process` has
returned, i.e. after every message is a ClickHouse row or a dead-letter record. `take` would be
wrong here: it acks the buffered events in a `finally` when the generator is closed, so a batch
interrupted by an exception or a shutdown would be committed without being stored.
After a crash the uncommitted tail is consumed again; rows are idempotent (dedup by id), so
at-least-once delivery counts every document exactly once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.dashboard_embedded import mount_dashboard, web_application
from bloomwatch.access import AccessPolicy, aiohttp_middleware
from bloomwatch.schemas import DeadLetter
from bloomwatch.settings import Settings
from store.documents import DocumentStore
from store.retraining import RetrainStore
from streams import metrics
from streams.documents_api import add_document_routes
from streams.ingest import PublisherOnDemand, document_ingest, label_ingest
from streams.kafka_security import faust_credentials
from streams.labels import LabelSink, add_label_agent
from streams.publisher import Publisher
from streams.query_params import BadQuery, query_int
from streams.retrain_api import add_retrain_routes
from streams.topics import DEAD_LETTER_MAX_MESSAGE_BYTES
from streams.worker import BatchProcessor, Message, RetryPolicy, message_of

log = logging.getLogger(__name__)
MINUTES_PER_YEAR = 366 * 24 * 60  # the longest /api/stats window

if TYPE_CHECKING:
    from classifiers.client import ClassifyClient


def create_app(settings: Settings, *, classifiers: dict[str, ClassifyClient], store: DocumentStore) -> faust.App:
    """The worker app; `classifiers` holds one client per task of the table, by task name."""
    app = faust.App(
        settings.worker_group,  # faust's app id is the consumer group id
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings.kafka),
        autodiscover=False,
        store="memory://",  # no faust tables: state lives in ClickHouse
        datadir=str(settings.home / "faust"),
        web_enabled=True,
        web_bind=settings.worker_host,  # faust's web_host does not choose the bind address
        web_host=settings.worker_host,
        web_port=settings.worker_port,
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker_session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        producer_max_request_size=DEAD_LETTER_MAX_MESSAGE_BYTES,
        web_application_options={"client_max_size": settings.max_body_bytes},  # POST /documents batches
    )
    # every route of the worker's web server: tokens, body size, rate limits (bloomwatch/access.py)
    web_application(app).middlewares.append(aiohttp_middleware(AccessPolicy.from_settings(settings.access)))
    source = app.topic(
        settings.topic_news,
        settings.topic_reviews,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",  # decoding errors are ours to catch (streams/decoding.py)
    )

    async def dead_letter(message: Message, reason: str, error: str, attempts: int, document_id: str | None) -> None:
        record = DeadLetter.for_message(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            reason=f"{reason}: {error}",
            error_type=reason,
            attempts=attempts,
            document_id=document_id,
        )
        await app.producer.send_and_wait(
            settings.topic_dead_letter,
            message.key,
            record.model_dump_json().encode(),
            partition=None,
            timestamp=None,
            headers=None,
        )

    processor = BatchProcessor(
        classifiers=classifiers,
        store=store,
        dead_letter=dead_letter,
        retry=RetryPolicy(
            max_attempts=settings.worker_max_attempts,
            backoff_s=settings.worker_retry_backoff_s,
            backoff_max_s=settings.worker_retry_backoff_max_s,
        ),
        max_text_chars=settings.max_text_chars,
    )

    @app.agent(source, concurrency=settings.worker_concurrency)
    async def classify_documents(stream):
        async for events in stream.noack_take(settings.worker_batch_size, within=settings.worker_batch_timeout_s):
            await processor.process([message_of(event) for event in events])
            for event in events:
                await stream.ack(event)
            _record_lag(app, events)

    @app.page("/api/documents/count")
    async def documents_count(web, request):
        """Exact number of stored documents (deduplicated: count() FINAL), and per task those it
        left unscored, by reason."""
        count = await processor.store_thread.run(processor.store.count)
        return web.json({"count": count, "unscored": await processor.store_thread.run(processor.store.unscored_counts)})

    @app.page("/api/stats")
    async def stats(web, request):
        """Counts by kind and by each task's label, and the recent negative share; ?window_minutes=15."""
        try:
            window = query_int(request.query, "window_minutes", 15, maximum=MINUTES_PER_YEAR)
        except BadQuery as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.json(await processor.store_thread.run(processor.store.stats, window))

    add_document_routes(app, store, processor.store_thread)  # GET /api/documents/{id}, /api/documents/search

    from streams.alerts.api import install as install_alerts

    # /api/alerts, /api/silences, and the evaluator when this worker is the one
    install_alerts(app, settings.alerts, settings.kafka, store.client, processor.store_thread)

    # The web server answers before faust runs app tasks, so the ingest producer starts with the
    # first POST rather than in a startup task.
    publisher = PublisherOnDemand(
        Publisher(settings.kafka_bootstrap, settings.kafka, max_text_chars=settings.max_text_chars)
    )
    ingest_documents = publisher.guard(document_ingest(publisher.publisher, settings.access))
    ingest_labels = publisher.guard(label_ingest(publisher.publisher, settings.access))

    @app.page("/documents")
    class Documents(View):
        """POST /documents: validated batch ingest into the input topics (streams/ingest.py)."""

        async def post(self, request):
            return await ingest_documents(request)

    @app.page("/labels")
    class Labels(View):
        """POST /labels: one LabelEvent, a list, or {"labels": [...]} into the labels topic."""

        async def post(self, request):
            return await ingest_labels(request)

    retrain_store = RetrainStore(store.client)
    add_label_agent(app, settings, LabelSink(processor, retrain_store))
    add_retrain_routes(app, processor.store_thread, retrain_store)

    @app.on_before_shutdown.connect
    async def _stop_publisher_and_store(sender: object, /, *args: Any, **kwargs: Any) -> None:
        """Runs after the consumer stopped: no batch is in flight any more."""
        await publisher.stop()
        processor.close()
        store.close()

    mount_dashboard(app, settings, processor)  # GET /dashboard and /api/dashboard/*

    @app.page("/metrics")
    async def prometheus(web, request):
        try:  # the retraining audit's totals, from whichever store this worker uses
            metrics.RETRAIN_DECISIONS.counts = await processor.store_thread.run(retrain_store.decision_counts)
        except Exception as exc:  # noqa: BLE001 - a store outage must not take the other metrics down
            log.warning("/metrics: model_versions unreadable, retrain decisions as last read: %s", exc)
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


def _record_lag(app: faust.App, events) -> None:
    last: dict = {}
    for event in events:
        last[event.message.tp] = max(last.get(event.message.tp, -1), event.message.offset)
    for tp, offset in last.items():
        highwater = app.consumer.highwater(tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - offset - 1))

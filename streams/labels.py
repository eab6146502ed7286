"""The worker's `labels` consumer: label events from Kafka into the ClickHouse `labels` table.

Same contract as documents (app/worker_app.py): the agent acks a batch only after every message is a
row or a dead-letter record, so the committed offset never passes an unstored label; an invalid
label (not JSON, unknown task, a label outside the task's set) is dead-lettered with the reason.
A store failure is retried with backoff for as long as it lasts: labels are small, valid and few,
so there is no per-label blame to assign as there is for a document that breaks a classifier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial

import faust

from bloomwatch.schemas import LabelEvent
from bloomwatch.settings import Settings
from store.retraining import RetrainStore
from streams import metrics
from streams.decoding import decode_label
from streams.worker import BatchProcessor, Message, message_of

log = logging.getLogger(__name__)


class LabelSink:
    def __init__(self, processor: BatchProcessor, store: RetrainStore):
        self.processor = processor  # its store thread and dead-letter path
        self.store = store

    async def process(self, messages: Sequence[Message]) -> None:
        valid: dict[tuple[str, str], tuple[LabelEvent, datetime]] = {}
        decode = partial(decode_label, max_text_chars=self.processor.max_text_chars)
        for message, label in await self.processor.decoded(messages, decode):
            # the later of two labels for one document in a batch wins, as it does across batches
            valid[(label.task, label.document_id)] = (label, message.enqueued_at)
        attempt = 0
        while valid:
            try:
                await self.processor.store_thread.run(self.store.insert_labels, list(valid.values()))
                metrics.LABELS_STORED.inc(len(valid))
                return
            except Exception as exc:  # noqa: BLE001 - retried until the store is back
                attempt += 1
                metrics.RETRIES.labels(type(exc).__name__).inc()
                log.warning("storing %d labels failed (attempt %d): %s", len(valid), attempt, exc)
                await asyncio.sleep(self.processor.retry.delay(attempt))


def add_label_agent(app: faust.App, settings: Settings, sink: LabelSink) -> None:
    """Consume the labels topic in batches, acking each batch once it is stored."""
    topic = app.topic(
        settings.topic_labels, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(topic, name="store_labels")
    async def store_labels(stream):
        async for events in stream.noack_take(settings.worker_batch_size, within=settings.worker_batch_timeout_s):
            await sink.process([message_of(event) for event in events])
            for event in events:
                await stream.ack(event)

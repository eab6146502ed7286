"""Publishing documents and labels to Kafka: the one path the CLI, the HTTP ingest endpoints and
Python users share.

Every record is validated (`Document`, `LabelEvent`) before it is sent, so invalid input is rejected to its
publisher with a reason instead of travelling to the worker's dead-letter topic.

While Kafka is down a publish does not hang: it waits at most `publish_timeout_s` (BLOOMWATCH_PUBLISH_TIMEOUT_S), then
rejects every record Kafka has not acknowledged as `retryable`. Such a record may still reach Kafka
(a request already on the wire), which is harmless: the id is the idempotency key, so a resent
document is stored once.
"""

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import ValidationError

from bloomwatch.schemas import Document, LabelEvent, classifiable_text, text_limit
from bloomwatch.setting_groups import KafkaSettings
from bloomwatch.settings import get_settings
from streams.kafka_security import client_options
from streams.topics import input_topic

# A validated record, ready to send: (topic, key, value)
Outgoing = tuple[str, bytes, bytes]
# aiokafka retries a failed request (and our metadata refreshes are spaced) this far apart: with
# its default of 100 ms a down broker cost ~40 log lines a second per producer.
RETRY_BACKOFF_MS = 1000
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024  # aiokafka's max_request_size when none is given
VALIDATE_BETWEEN_PAUSES = 500  # records validated between two turns of the event loop


@dataclass(frozen=True)
class Rejection:
    """Why record number `position` (0-based, in the order given) was not published.

    `retryable` is True when the record was valid but Kafka did not take it (broker down,
    timeout): sending it again may succeed. Otherwise the record itself must be fixed.
    """

    position: int
    id: str | None
    reason: str
    retryable: bool = False


@dataclass
class PublishResult:
    accepted: list[str] = field(default_factory=list)  # ids, in input order
    rejected: list[Rejection] = field(default_factory=list)


def validation_reason(error: ValidationError, root: str = "document") -> str:
    """One line per problem, each naming the field: what a publisher needs to fix the record."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or root}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )


class Publisher:
    """An acks=all Kafka producer for documents (key = id, value = the JSON document).

    Not Kafka's idempotent producer: aiokafka retries an idempotent producer's batches forever (it
    has no delivery timeout), so while the broker is down every publish and `stop()` would hang.
    Here a batch expires after `publish_timeout_s`. A record sent twice by a retry is harmless
    (the id is the idempotency key downstream) and order per partition is kept: aiokafka has one
    request in flight per broker and puts a retried batch back at the front.

    Use as `async with Publisher(bootstrap) as publisher: result = await publisher.publish(rows)`.
    `topic=None` routes each document by its kind (news -> topic_news, review -> topic_reviews);
    a fixed topic rejects documents of the other kind. `kafka` (the broker, topics, credentials and
    timeout) and `max_text_chars` (of a document's text) default to the process's settings;
    `bootstrap` overrides the broker's address.
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        kafka: KafkaSettings | None = None,
        *,
        max_text_chars: int | None = None,
        **producer_options: Any,
    ):
        self.kafka = kafka or get_settings().kafka
        self.max_text_chars = get_settings().max_text_chars if max_text_chars is None else max_text_chars
        self._bootstrap = bootstrap or self.kafka.kafka_bootstrap
        self._producer_options = {
            "linger_ms": 10,
            "max_batch_size": 256 * 1024,
            # aiokafka's own waits (metadata, a full buffer, a batch without a leader) end with ours
            "request_timeout_ms": int(self.kafka.publish_timeout_s * 1000),
            "retry_backoff_ms": RETRY_BACKOFF_MS,
        }
        self._producer_options.update(producer_options)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect; the producer is made here because aiokafka binds it to the running event loop.

        Raises aiokafka's `KafkaConnectionError` (a `KafkaError`) when no bootstrap server answers.
        """
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id="bloomwatch-publisher",
            acks="all",
            **client_options(self.kafka),
            **self._producer_options,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        space_metadata_refreshes(producer.client, RETRY_BACKOFF_MS / 1000)
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> "Publisher":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    def validate(self, record: Mapping[str, Any] | Document, topic: str | None = None) -> Document:
        """The record as a Document bound for `topic`; raises ValueError with the reason if invalid."""
        try:
            if isinstance(record, Document):  # built elsewhere, maybe against another limit
                document = record
                classifiable_text(document.text, self.max_text_chars)
            else:
                document = Document.model_validate(record, context=text_limit(self.max_text_chars))
        except ValidationError as error:
            raise ValueError(validation_reason(error)) from None
        except ValueError as error:
            raise ValueError(f"text: {error}") from None
        if topic is not None and topic != input_topic(self.kafka, document.kind):
            raise ValueError(f"kind: a {document.kind!r} document does not belong on topic {topic!r}")
        return document

    async def publish(self, records: Iterable[Mapping[str, Any] | Document], topic: str | None = None) -> PublishResult:
        """Validate and send every record; return once Kafka acknowledged (or refused) each one."""

        def outgoing(record: Mapping[str, Any] | Document) -> Outgoing:
            document = self.validate(record, topic)
            target = topic or input_topic(self.kafka, document.kind)
            return target, document.id.encode(), document.model_dump_json().encode()

        return await self._send(records, outgoing, id_field="id")

    async def publish_labels(self, records: Iterable[Mapping[str, Any] | LabelEvent]) -> PublishResult:
        """Validate and send label events to the labels topic (key = document id, so one document's
        labels stay in order on one partition); ids in the result are document ids."""

        def outgoing(record: Mapping[str, Any] | LabelEvent) -> Outgoing:
            try:
                label = record if isinstance(record, LabelEvent) else LabelEvent.model_validate(record)
            except ValidationError as error:
                raise ValueError(validation_reason(error, "label")) from None
            return self.kafka.topic_labels, label.document_id.encode(), label.model_dump_json().encode()

        return await self._send(records, outgoing, id_field="document_id")

    def _fits(self, message: Outgoing) -> Outgoing:
        """The message if the producer will take it, else ValueError: the check aiokafka makes in
        `send()`, made before anything is sent, so one oversized record is rejected with a reason
        instead of raising MessageSizeTooLargeError after the records before it went out."""
        _, key, value = message
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])
        limit = self._producer_options.get("max_request_size", DEFAULT_MAX_REQUEST_BYTES)
        if size > limit:
            raise ValueError(f"the record is {size} bytes as sent to Kafka; the producer takes at most {limit}")
        return message

    async def _send(self, records: Iterable[Any], outgoing, *, id_field: str) -> PublishResult:
        """`outgoing(record)` validates one record into (topic, key, value) or raises ValueError.

        Everything Kafka has not acknowledged `publish_timeout_s` after the call began is rejected
        as retryable, so the call returns within about that time whatever the broker does.
        """
        if self._producer is None:
            raise RuntimeError("Publisher.start() (or `async with`) before publish()")
        timeout_s = self.kafka.publish_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout_s
        unacknowledged = f"kafka: not acknowledged within {timeout_s:g}s (is the broker at {self._bootstrap} down?)"
        result = PublishResult()
        ready: list[tuple[int, Outgoing]] = []
        for position, record in enumerate(records):  # every record is checked before any is sent
            try:
                ready.append((position, self._fits(outgoing(record))))
            except ValueError as error:
                record_id = record.get(id_field) if isinstance(record, Mapping) else None
                record_id = record_id if isinstance(record_id, str) else None
                result.rejected.append(Rejection(position, record_id, str(error)))
            if position % VALIDATE_BETWEEN_PAUSES == VALIDATE_BETWEEN_PAUSES - 1:
                await asyncio.sleep(0)  # a 10,000-record batch validates for ~0.2 s: let the loop's other tasks run
        pending: list[tuple[int, str, asyncio.Future]] = []
        for position, (target, key, value) in ready:
            try:
                async with asyncio.timeout_at(deadline):  # cancelling send() drops the record
                    future = await self._producer.send(target, value=value, key=key)
            except TimeoutError:
                result.rejected.append(Rejection(position, key.decode(), unacknowledged, retryable=True))
                continue
            pending.append((position, key.decode(), future))
        if pending:
            left_s = max(0.0, deadline - asyncio.get_running_loop().time())
            await asyncio.wait([future for *_, future in pending], timeout=left_s)
        for position, record_id, future in pending:
            if not future.done():
                future.add_done_callback(_retrieve_outcome)
                result.rejected.append(Rejection(position, record_id, unacknowledged, retryable=True))
            elif (error := future.exception()) is not None:  # any Kafka failure: the caller can resend
                result.rejected.append(
                    Rejection(position, record_id, f"kafka: {type(error).__name__}: {error}", retryable=True)
                )
            else:
                result.accepted.append(record_id)
        result.rejected.sort(key=lambda rejection: rejection.position)
        return result


def _retrieve_outcome(future: asyncio.Future) -> None:
    """A late outcome nobody awaits any more: retrieved so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


def space_metadata_refreshes(client: Any, interval_s: float) -> None:
    """Make aiokafka's metadata refreshes at least `interval_s` apart.

    aiokafka 0.14 has no reconnect backoff: while a partition has no leader (a broker in controlled
    shutdown or still starting) its sender asks for a refresh on every loop turn, and
    `_wait_on_metadata` does the same for an unknown topic; with the broker refusing connections
    each refresh fails at once, so the producer busy-loops (a full core, tens of thousands of
    "Unable connect to node" lines during one graceful restart). A refresh asked for too soon gets
    a future that resolves when the interval is over; the caller then looks again and asks again.
    """
    refresh = client.force_metadata_update
    loop = asyncio.get_running_loop()
    last = -interval_s

    def spaced_refresh() -> asyncio.Future:
        nonlocal last
        wait = last + interval_s - loop.time()
        if wait <= 0:
            last = loop.time()
            return refresh()
        return asyncio.ensure_future(asyncio.sleep(wait))

    client.force_metadata_update = spaced_refresh

"""What the worker does with one consumed batch: decode, classify, store, or dead-letter.

`BatchProcessor.process` returns only when every message of the batch is either a row in
ClickHouse or a record in the dead-letter topic; the faust agent acks (and so lets faust commit)
the batch's offsets only after that. Failures of the classifiers or of ClickHouse are retried
with backoff for as long as they last, so an outage delays documents but never loses them. Only a
document that still fails while every classifier and the store answer their health checks is
blamed on itself: the batch is bisected until that document is alone, and it is dead-lettered.
A classifier that rejects the input (HTTP 4xx) is taken at its word: the batch is bisected at once.
ClickHouse refusing an insert with an error of its own is never blamed on the documents: a full
or read-only disk refuses every insert while the store still answers its health check, and
bisecting would dead-letter the whole stream (the fault suite's ClickHouse write failure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bloomwatch.language import languages_of
from bloomwatch.prediction import Prediction
from bloomwatch.schemas import Document
from bloomwatch.settings import DEFAULT_MAX_TEXT_CHARS
from bloomwatch.tasks import Task, Unscored, tasks
from bloomwatch.timestamps import record_time
from classifiers.client import ClassifyRejected, ModelNotServed
from store.documents import DocumentStore, document_row
from store.errors import store_refused
from store.executor import StoreThread
from streams import metrics
from streams.decoding import DECODE_FAILED, PROCESSING_FAILED, InvalidMessage, decode_document
from streams.routing import ServedModels, route, routing_language

if TYPE_CHECKING:
    from classifiers.client import ClassifyClient

log = logging.getLogger(__name__)


def by_truncation_side(task: Task, kinds: list[str]) -> dict[Literal["left"] | None, list[int]]:
    """Indices of a batch's documents per truncation side for `task` (Task.truncation_side): one
    classify request each. The pipeline benchmark replays the same grouping, so its
    classifier-alone figure is the load the worker really puts on the servers."""
    by_side: dict[Literal["left"] | None, list[int]] = {}
    for index, kind in enumerate(kinds):
        by_side.setdefault(task.truncation_side(kind), []).append(index)
    return by_side


@dataclass(frozen=True)
class Message:
    """A consumed Kafka record, independent of faust so the processor can be driven by anything."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float  # Kafka record timestamp (producer create time), seconds since the epoch

    @property
    def enqueued_at(self) -> datetime:
        """The record timestamp as a storable time (the producer chooses it: any int64 of ms)."""
        return record_time(self.timestamp)


def message_of(event) -> Message:
    """The Message of a faust event."""
    record = event.message
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        timestamp=record.timestamp,
    )


# (message, reason, error, attempts, document id if known) -> returns once Kafka has the record
DeadLetterSink = Callable[[Message, str, str, int, str | None], Awaitable[None]]
Decoded = TypeVar("Decoded")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # failed attempts (with healthy services) before a batch is bisected
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))


class BatchProcessor:
    def __init__(
        self,
        *,
        classifiers: dict[str, ClassifyClient],
        store: DocumentStore,
        dead_letter: DeadLetterSink,
        retry: RetryPolicy,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ):
        self.classifiers = classifiers  # one per task of the table, by task name
        self.served_models = ServedModels(classifiers)
        self.store = store
        self.dead_letter = dead_letter
        self.retry = retry
        self.max_text_chars = max_text_chars  # longer texts are dead-lettered as oversize (decoding.py)
        # every store call of this process (writes from agents, reads from the web API) goes
        # through this one thread
        self.store_thread = StoreThread()

    async def process(self, messages: Sequence[Message]) -> None:
        metrics.BATCH_SIZE.observe(len(messages))
        for topic, n in Counter(message.topic for message in messages).items():
            metrics.CONSUMED.labels(topic).inc(n)
        latest: dict[str, tuple[Message, Document]] = {}
        decode = partial(decode_document, max_text_chars=self.max_text_chars)
        for message, document in await self.decoded(messages, decode):
            # A duplicate id inside one batch is one row; the later message wins, as it would
            # across batches (ReplacingMergeTree keeps the last ingested version).
            latest[document.id] = (message, document)
        if latest:
            await self._store_until_done(list(latest.values()))

    async def decoded(
        self, messages: Sequence[Message], decode: Callable[[bytes | None], Decoded]
    ) -> list[tuple[Message, Decoded]]:
        """The messages `decode` accepts, in order; every other one is dead-lettered with the reason.

        Whatever the decoder raises, not only InvalidMessage: an exception leaving the agent would
        end it, and faust would go on with the next batch while this one's offsets were committed
        (issue 25: a 5,000-digit integer lost the documents around it)."""
        accepted: list[tuple[Message, Decoded]] = []
        for message in messages:
            try:
                accepted.append((message, decode(message.value)))
            except InvalidMessage as exc:
                await self.dead_letter_until_sent(message, exc.reason, exc.detail, attempts=1)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                await self.dead_letter_until_sent(message, DECODE_FAILED, _describe(exc), attempts=1)
        return accepted

    async def _store_until_done(self, items: list[tuple[Message, Document]]) -> None:
        attempt = 0
        while True:
            try:
                await self._classify_and_store(items)
                return
            except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
                attempt += 1
                error, inner = _describe(exc), _unwrap(exc)
                metrics.RETRIES.labels(type(inner).__name__).inc()
                log.warning("batch of %d failed (attempt %d): %s", len(items), attempt, error)
                blamed = isinstance(inner, ClassifyRejected) or (
                    attempt >= self.retry.max_attempts and not store_refused(inner)
                )
                if blamed and await self._services_healthy():
                    if len(items) == 1:
                        message, document = items[0]
                        await self.dead_letter_until_sent(
                            message, PROCESSING_FAILED, error, attempts=attempt, document_id=document.id
                        )
                        return
                    half = len(items) // 2
                    await self._store_until_done(items[:half])
                    await self._store_until_done(items[half:])
                    return
            await asyncio.sleep(self.retry.delay(attempt))

    async def _classify_and_store(self, items: list[tuple[Message, Document]]) -> None:
        documents = [document for _, document in items]
        languages = await asyncio.to_thread(languages_of, [document.text for document in documents])
        routed = [
            routing_language(code, confidence, document.lang)
            for (code, confidence), document in zip(languages, documents, strict=True)
        ]
        async with asyncio.TaskGroup() as group:
            scoring = {task.name: group.create_task(self._score(task, documents, routed)) for task in tasks()}
        per_task = {name: scored.result() for name, scored in scoring.items()}
        per_document = [
            dict(zip(per_task, predictions, strict=True)) for predictions in zip(*per_task.values(), strict=True)
        ]
        rows = [
            document_row(document, predictions, language, message.enqueued_at)
            for (message, document), predictions, language in zip(items, per_document, languages, strict=True)
        ]
        started = time.perf_counter()
        await self.store_thread.run(self.store.insert, rows)
        stored_at = time.time()
        metrics.STORE_LATENCY.observe(time.perf_counter() - started)
        for kind, n in Counter(document.kind for _, document in items).items():
            metrics.STORED.labels(kind).inc(n)
        for lang, n in Counter(code for code, _ in languages).items():
            metrics.STORED_BY_LANGUAGE.labels(lang).inc(n)
        for message, _ in items:
            metrics.PUBLISH_TO_STORED.observe(max(0.0, stored_at - message.timestamp))

    async def _score(self, task: Task, documents: list[Document], languages: list[str]) -> list[Prediction | Unscored]:
        """Per document, the prediction of the first model of the task that reads its language
        (streams/routing.py), or `unsupported_language` where none does. A model replaced by a hot
        reload since its server's list was read answers ModelNotServed: the list is read again and
        the documents routed again, at once (a promotion is not an outage)."""
        try:
            return await self._score_routed(task, documents, languages)
        except ModelNotServed as exc:
            log.info("%s; routing its documents again", exc)
            self.served_models.forget(task.name)
            return await self._score_routed(task, documents, languages)

    async def _score_routed(
        self, task: Task, documents: list[Document], languages: list[str]
    ) -> list[Prediction | Unscored]:
        models = await self.served_models.of(task.name)
        routed: dict[str, list[int]] = {}  # model name -> indices of the documents it scores
        for index, language in enumerate(languages):
            if (model := route(models, language)) is not None:
                routed.setdefault(model, []).append(index)
        answers = await asyncio.gather(
            *(self._classify(task, [documents[i] for i in indices], model) for model, indices in routed.items())
        )
        scores: list[Prediction | Unscored] = [Unscored.UNSUPPORTED_LANGUAGE] * len(documents)
        _scatter(scores, routed.values(), answers)
        if unscored := sum(isinstance(score, Unscored) for score in scores):
            metrics.UNSCORED.labels(task.name, Unscored.UNSUPPORTED_LANGUAGE).inc(unscored)
        return scores

    async def _classify(self, task: Task, documents: list[Document], model: str) -> list[Prediction]:
        """`model`'s predictions in document order: one request per truncation side (Task.truncation_side)."""
        started = time.perf_counter()
        by_side = by_truncation_side(task, [document.kind for document in documents])
        client = self.classifiers[task.name]
        answers = await asyncio.gather(
            *(client.classify([documents[i].text for i in indices], side, model) for side, indices in by_side.items())
        )
        predictions: list[Any] = [None] * len(documents)
        _scatter(predictions, by_side.values(), answers)  # ClassifyClient raised on an answer of the wrong length
        metrics.CLASSIFY_LATENCY.labels(task.name).observe(time.perf_counter() - started)
        metrics.CLASSIFIED.labels(task.name).inc(len(documents))
        return predictions

    async def _services_healthy(self) -> bool:
        """True when every dependency answers: then a failure is the documents' fault, not an outage."""
        for client in self.classifiers.values():
            if not await client.health():
                return False
        return await self.store_thread.run(self.store.ping)

    async def dead_letter_until_sent(
        self, message: Message, reason: str, error: str, *, attempts: int, document_id: str | None = None
    ) -> None:
        """Dead-letter one message, retrying for as long as Kafka refuses: its offset waits for it."""
        attempt = 0
        while True:
            try:
                await self.dead_letter(message, reason, error, attempts, document_id)
                metrics.DEAD_LETTERED.labels(reason).inc()
                log.info("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
                return
            except Exception as exc:  # noqa: BLE001
                attempt += 1
                log.warning("dead-letter publish failed (attempt %d): %s", attempt, _describe(exc))
                await asyncio.sleep(self.retry.delay(attempt))

    def close(self) -> None:
        self.store_thread.close()


def _scatter(into: list[Any], groups: Iterable[list[int]], answers: Sequence[list[Prediction]]) -> None:
    """Put each group's answers back at its documents' places in the batch (one request per group)."""
    for indices, answer in zip(groups, answers, strict=True):
        for index, prediction in zip(indices, answer, strict=True):
            into[index] = prediction


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    inner = _unwrap(exc)
    return f"{type(inner).__name__}: {inner}"[:2000]

"""`POST /documents` and `POST /labels`: batch HTTP ingest for publishers that cannot speak Kafka.

`BatchIngest` is a plain aiohttp handler so it mounts on the worker's faust web server (faust's
web driver is aiohttp and hands views the aiohttp request) as well as on the standalone server
`bloomwatch ingest` runs from `ingest_app`.

Request: a JSON array of documents, or {"documents": [...]}. Each document is routed by its
`kind` (news -> news topic, review -> reviews topic) and validated with `Document`, like every
other publishing path. `POST /labels` takes the same shapes ({"labels": [...]}) and also a single
LabelEvent object (the dashboard's one-click label correction); ids in its response are document ids.
Bulk semantics, like a search engine's bulk API: each document is accepted or rejected on its own,
and the response says which. Response (JSON): {"accepted": n, "accepted_ids": [...], "rejected":
[{"index", "id", "reason", "retryable"}]}, with the status a client can act on:
- 200: at least one document was accepted (check `rejected` for the others), or the batch was empty;
- 422: none was accepted and none can be retried: every document is invalid (fix, do not resend);
- 503 with `Retry-After`: none was accepted because Kafka did not take the valid ones within
  `publish_timeout_s` (`retryable`: resend after that many seconds; ids make resending safe);
- 400: the body is not such a batch (or not JSON this server reads: an integer of over 4,300
  digits, nesting deeper than Python's recursion limit);
- 413: the request is over a size limit, and nothing of it was published: the body is over
  `max_body_bytes`, it holds more than `max_batch` records, or a record's `text` is over
  `max_text_chars` (the error names each such record: split or shorten, then resend).
Size limits judge the request as a whole, so a client learns at once that it must send less;
validity is judged per document. Tokens and rate limits (401, 429) are checked before any of this
(bloomwatch/access.py).
"""

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiokafka.errors import KafkaError

from bloomwatch.access import AUTHENTICATED_CLIENT, AccessPolicy, aiohttp_middleware
from bloomwatch.json_input import NotJSON, parse_json_body
from bloomwatch.setting_groups import AccessSettings
from streams.publisher import Publisher, PublishResult

RETRY_AFTER_S = 5  # what a 503 tells clients to wait: a graceful broker restart takes about this long


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def kafka_unavailable(reason: str) -> web.Response:
    """The answer when no publisher can reach Kafka at all (e.g. it could not start)."""
    return web.json_response(
        {"error": f"kafka unavailable: {reason}"}, status=503, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


class BatchIngest:
    """`publish(records)` validates and sends a batch (Publisher.publish or publish_labels)."""

    def __init__(
        self,
        publish: Callable[[list], Awaitable[PublishResult]],
        items: str,
        *,
        max_batch: int,
        max_text_chars: int | None = None,
        single_object: bool = False,
        actor_field: str | None = None,
    ):
        self.publish = publish
        self.items = items  # the batch key and the word used in errors: documents | labels
        self.single_object = single_object  # a JSON object without `items` is one record
        self.max_batch = max_batch
        self.max_text_chars = max_text_chars  # of a record's `text` (documents; labels may carry one)
        self.actor_field = actor_field  # set to the token's client on every record (labels: annotator)

    async def __call__(self, request: web.Request) -> web.Response:
        try:
            body = await parse_json_body(await request.read())
        except NotJSON as error:
            return _error(400, f"body is not JSON: {error}")
        records = body.get(self.items, body if self.single_object else None) if isinstance(body, dict) else body
        if isinstance(records, dict) and self.single_object:
            records = [records]
        if not isinstance(records, list):
            return _error(400, f'expected a JSON array of {self.items} or {{"{self.items}": [...]}}')
        if len(records) > self.max_batch:
            return _error(
                413, f"{len(records)} {self.items} in one request; the limit is {self.max_batch} (BLOOMWATCH_MAX_BATCH)"
            )
        if too_long := self._too_long(records):
            return web.json_response(
                {
                    "error": f"{len(too_long)} of the {self.items} have a text over {self.max_text_chars}"
                    " characters (BLOOMWATCH_MAX_TEXT_CHARS); nothing was published",
                    "too_large": too_long,
                },
                status=413,
            )
        if self.actor_field and (client := request.get(AUTHENTICATED_CLIENT)):
            records = [
                {**record, self.actor_field: client} if isinstance(record, dict) else record for record in records
            ]
        result = await self.publish(records)  # non-objects are rejected by validation
        rejected = [
            {"index": r.position, "id": r.id, "reason": r.reason, "retryable": r.retryable} for r in result.rejected
        ]
        payload = {"accepted": len(result.accepted), "accepted_ids": result.accepted, "rejected": rejected}
        status = _status(result)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return web.json_response(payload, status=status, headers=headers)

    def _too_long(self, records: list) -> list[dict]:
        if self.max_text_chars is None:
            return []
        return [
            {"index": index, "id": record.get("id"), "chars": len(record["text"])}
            for index, record in enumerate(records)
            if isinstance(record, dict)
            and isinstance(record.get("text"), str)
            and len(record["text"]) > self.max_text_chars
        ]


def _status(result: PublishResult) -> int:
    if result.accepted or not result.rejected:
        return 200
    if any(rejection.retryable for rejection in result.rejected):
        return 503  # Kafka refused: the same request may succeed later
    return 422  # every document is invalid: resending it cannot help


def document_ingest(publisher: Publisher, access: AccessSettings) -> BatchIngest:
    return BatchIngest(publisher.publish, "documents", max_batch=access.max_batch, max_text_chars=access.max_text_chars)


def label_ingest(publisher: Publisher, access: AccessSettings) -> BatchIngest:
    return BatchIngest(
        publisher.publish_labels, "labels", max_batch=access.max_batch, max_text_chars=access.max_text_chars,
        single_object=True, actor_field="annotator",
    )  # fmt: skip


class PublisherOnDemand:
    """A Publisher started by the first POST that needs it, for web servers that answer before
    Kafka is reachable (the worker's faust server, `bloomwatch dashboard`): a POST while Kafka
    cannot be reached gets a 503 with Retry-After, and the next one tries again."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self._starting = asyncio.Lock()
        self.running = False

    async def _start(self) -> str | None:
        """None once the publisher runs, else why it cannot."""
        async with self._starting:
            if not self.running:
                try:
                    await self.publisher.start()
                except KafkaError as error:
                    return f"{type(error).__name__}: {error}"
                self.running = True
        return None

    def guard(self, ingest: BatchIngest) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            if problem := await self._start():
                return kafka_unavailable(problem)
            return await ingest(request)

        return handler

    async def stop(self) -> None:
        if self.running:
            await self.publisher.stop()
            self.running = False


def ingest_app(publisher: Publisher, access: AccessSettings) -> web.Application:
    """The standalone ingest server: POST /documents and /labels, plus GET /healthz for load balancers."""
    app = web.Application(
        client_max_size=access.max_body_bytes, middlewares=[aiohttp_middleware(AccessPolicy.from_settings(access))]
    )
    app.router.add_post("/documents", document_ingest(publisher, access))
    app.router.add_post("/labels", label_ingest(publisher, access))
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})

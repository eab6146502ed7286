"""`POST /documents`: batch HTTP ingest for publishers that cannot speak Kafka.

`DocumentIngest` is a plain aiohttp handler so it mounts on the worker's faust web server (faust's
web driver is aiohttp and hands views the aiohttp request) as well as on the standalone server
`bloomwatch ingest` runs from `ingest_app`.

Request: a JSON array of documents, or {"documents": [...]}. Each document is routed by its
`kind` (news -> news topic, review -> reviews topic) and validated with `Document`, like every
other publishing path.
Bulk semantics, like a search engine's bulk API: each document is accepted or rejected on its own,
and the response says which. Response (JSON): {"accepted": n, "accepted_ids": [...], "rejected":
[{"index", "id", "reason", "retryable"}]}, with the status a client can act on:
- 200: at least one document was accepted (check `rejected` for the others), or the batch was empty;
- 422: none was accepted and none can be retried: every document is invalid (fix, do not resend);
- 503: none was accepted because Kafka did not take the valid ones (`retryable`: resend later);
- 400: the body is not such a batch; 413: it holds more than `max_batch` documents.
"""

import json

from aiohttp import web

from streams.publisher import Publisher, PublishResult

MAX_BATCH = 10_000
MAX_BODY_BYTES = 64 * 1024 * 1024


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class DocumentIngest:
    def __init__(self, publisher: Publisher, max_batch: int = MAX_BATCH):
        self.publisher = publisher
        self.max_batch = max_batch

    async def __call__(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(400, f"body is not JSON: {error}")
        documents = body.get("documents") if isinstance(body, dict) else body
        if not isinstance(documents, list):
            return _error(400, 'expected a JSON array of documents or {"documents": [...]}')
        if len(documents) > self.max_batch:
            return _error(413, f"{len(documents)} documents in one request; the limit is {self.max_batch}")
        result = await self.publisher.publish(documents)  # non-objects are rejected by validation
        rejected = [
            {"index": r.position, "id": r.id, "reason": r.reason, "retryable": r.retryable}
            for r in result.rejected
        ]
        payload = {"accepted": len(result.accepted), "accepted_ids": result.accepted, "rejected": rejected}
        return web.json_response(payload, status=_status(result))


def _status(result: PublishResult) -> int:
    if result.accepted or not result.rejected:
        return 200
    if any(rejection.retryable for rejection in result.rejected):
        return 503  # Kafka refused: the same request may succeed later
    return 422  # every document is invalid: resending it cannot help


def ingest_app(publisher: Publisher) -> web.Application:
    """The standalone ingest server: POST /documents, plus GET /healthz for load balancers."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/documents", DocumentIngest(publisher))
    app.router.add_get("/healthz", lambda request: web.json_response({"status": "ok"}))
    return app

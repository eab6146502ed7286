"""The access policy (bloomwatch/access.py: tokens, body size, per-client rate limits) on the
classifier servers, embedded and the vLLM proxy alike, as a plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it passes every `receive` message through,
so both servers still see a client that went away (`classifiers.server.client_gone`). It counts
the body's bytes as they arrive, so a chunked body (no Content-Length) is cut off at the limit
too, instead of being read whole and then classified. Refusals use vLLM's error shape, like every
other answer of these servers (classifiers/validation.py).
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bloomwatch.access import AccessPolicy, Denial, bearer_token
from bloomwatch.scopes import required_scope
from classifiers.validation import error_response

_ERROR_TYPES = {401: "AuthenticationError", 403: "PermissionDeniedError", 413: "RequestTooLarge", 429: "RateLimitError"}


class _BodyTooLarge(Exception):
    """Raised from `receive` into the app once the body passes the limit; answered 413 here."""


async def _refuse(denial: Denial, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(HTTPStatus(denial.status), denial.message, _ERROR_TYPES[denial.status])
    response.headers.update(denial.headers)
    await response(scope, receive, send)


class AccessMiddleware:
    def __init__(self, app: ASGIApp, policy: AccessPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.policy.is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        verdict = self.policy.check(
            bearer_token(headers.get("authorization")),
            scope["client"][0] if scope.get("client") else None,
            int(length) if length and length.isdigit() else None,
            required_scope(scope["method"], scope["path"]),
        )
        if isinstance(verdict, Denial):
            await _refuse(verdict, scope, receive, send)
            return
        limit, received = self.policy.max_body_bytes, 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:  # raised while the app reads the body: nothing has been answered yet
            message = f"request body over {limit} bytes, the limit (BLOOMWATCH_MAX_BODY_BYTES)"
            await _refuse(Denial(413, message), scope, receive, send)

"""The access policy (bloomwatch/access.py: tokens, body size, per-client rate limits) on the
classifier servers, embedded and the vLLM proxy alike, as a plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it passes `receive` through untouched, so
both servers still see a client that went away (`classifiers.server.client_gone`). Refusals use
vLLM's error shape, like every other answer of these servers (classifiers/validation.py).
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bloomwatch.access import AccessPolicy, Denial, bearer_token
from classifiers.validation import error_response

_ERROR_TYPES = {401: "AuthenticationError", 413: "RequestTooLarge", 429: "RateLimitError"}


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
        )
        if isinstance(verdict, Denial):
            response = error_response(HTTPStatus(verdict.status), verdict.message, _ERROR_TYPES[verdict.status])
            response.headers.update(verdict.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

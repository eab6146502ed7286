"""An ASGI middleware that BloomWatch loads into its vLLM process (`--middleware`): every request
but `/health` must carry the API key the proxy was given (`VLLM_API_KEY`, drawn per process by
classifiers/vllm_process.py).

vLLM's own key check (`--api-key` / `VLLM_API_KEY`) guards only paths under /v1, /v2, /inference
and /cohere (vllm/entrypoints/serve/middleware/authenticate.py in 0.32), not `/classify`,
`/pooling`, `/tokenize` or `/metrics`, which any other local process could otherwise call.
"""

from __future__ import annotations

import hmac
import os

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bloomwatch.access import bearer_token

OPEN_PATHS = frozenset({"/health"})  # the supervisor's readiness probe


class RequireKey:
    def __init__(self, app: ASGIApp):
        self.app = app
        self.key = os.environ["VLLM_API_KEY"].encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            presented = bearer_token(Headers(scope=scope).get("authorization")) or ""
            if not hmac.compare_digest(presented.encode(), self.key):
                await JSONResponse({"error": "Unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)

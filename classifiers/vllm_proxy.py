"""The HTTP front of `bloomwatch serve --engine vllm`: one stable URL in front of the vLLM process.

It checks each request with the same rules as the embedded server (so both engines share one
contract, including BloomWatch's text-size limit), forwards it unchanged to whichever vLLM process
the supervisor currently runs, and returns vLLM's answer as is. A request that cannot reach vLLM
(crashed, restarting) gets a 503 so the client's retry policy takes over. A request whose client
gives up (its timeout) while vLLM works on it is cancelled: the proxy closes its connection to
vLLM, whose /classify aborts a request whose client has gone (`with_cancellation`), so vLLM can
drop what it has not classified yet; it is counted and logged as 499, as the embedded server does
for the requests it skips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from http import HTTPStatus

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from classifiers.metrics import ServingMetrics
from classifiers.server import CLIENT_GONE, client_gone
from classifiers.validation import RequestRejected, error_response, parse_classify_request
from classifiers.vllm_supervisor import VllmSupervisor

log = logging.getLogger(__name__)


def create_vllm_proxy_app(
    supervisor: VllmSupervisor, metrics: ServingMetrics, *, max_text_chars: int, max_inputs: int
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(supervisor.start)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0))
        yield
        await app.state.http.aclose()
        await asyncio.to_thread(supervisor.stop)

    app = FastAPI(title=f"BloomWatch {supervisor.task} classifier (vLLM)", lifespan=lifespan)

    @app.post("/classify")
    async def classify(http_request: Request) -> Response:
        started = time.perf_counter()
        upstream = supervisor.upstream
        raw = await http_request.body()
        try:
            request = parse_classify_request(
                raw, served_model=upstream.name, max_text_chars=max_text_chars, max_inputs=max_inputs
            )
        except RequestRejected as exc:
            metrics.requests.labels(status=int(exc.status)).inc()
            return exc.response()
        upstream.inflight += 1
        forward = asyncio.ensure_future(
            app.state.http.post(
                f"{upstream.base_url}/classify",
                content=raw,
                headers={**upstream.auth_headers, "content-type": "application/json"},
            )
        )
        gone = asyncio.ensure_future(client_gone(http_request))
        try:
            await asyncio.wait({forward, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not forward.done():
                forward.cancel()  # closes the connection to vLLM, which aborts the request
                metrics.requests.labels(status=CLIENT_GONE).inc()
                log.warning("cancelled a request of %d texts in vLLM: its client gave up", len(request.texts))
                return Response(status_code=CLIENT_GONE)
            answer = forward.result()
        except httpx.TransportError as exc:
            metrics.requests.labels(status=503).inc()
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, f"vLLM for {upstream.name} unreachable: {exc!r}", "ServiceUnavailable"
            )
        finally:
            gone.cancel()
            upstream.inflight -= 1
        metrics.requests.labels(status=answer.status_code).inc()
        if answer.status_code == 200:
            metrics.texts.inc(len(request.texts))
            metrics.latency.observe(time.perf_counter() - started)
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        upstream = supervisor.upstream
        try:
            healthy = (await app.state.http.get(f"{upstream.base_url}/health", timeout=5)).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if not healthy:
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, f"vLLM for {upstream.name} is not healthy", "ServiceUnavailable"
            )
        return JSONResponse({"status": "ok", "model": upstream.name, "languages": list(upstream.version.languages)})

    @app.get("/v1/models")
    async def models() -> Response:
        """vLLM's list, each entry with the languages its version reads (the manifest's; vLLM knows
        nothing of them). One `upstream` for both: a hot reload between the two cannot mix versions."""
        upstream = supervisor.upstream
        answer = await app.state.http.get(f"{upstream.base_url}/v1/models", headers=upstream.auth_headers)
        if answer.status_code != 200:
            return Response(answer.content, status_code=answer.status_code, media_type="application/json")
        body = answer.json()
        for entry in body.get("data", []):
            entry["languages"] = list(upstream.version.languages)
        return JSONResponse(body)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """BloomWatch's proxy metrics followed by vLLM's own (`vllm:*`), one scrape for both."""
        own = metrics.render()
        try:
            upstream = supervisor.upstream
            engine = (
                await app.state.http.get(f"{upstream.base_url}/metrics", headers=upstream.auth_headers, timeout=5)
            ).content
        except httpx.HTTPError:
            engine = b""
        return Response(own + engine, media_type=metrics.content_type)

    return app

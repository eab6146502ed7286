"""The HTTP front of `bloomwatch serve --engine vllm`: one stable URL in front of the vLLM process.

It checks each request with the same rules as the embedded server (so both engines share one
contract, including BloomWatch's text-size limit), forwards it unchanged to whichever vLLM process
the supervisor currently runs, and returns vLLM's answer as is. A request that cannot reach vLLM
(crashed, restarting) gets a 503 so the client's retry policy takes over. A request whose client
gives up (its timeout) while vLLM works on it is cancelled: the proxy closes its connection to
vLLM, whose /classify aborts a request whose client has gone (`with_cancellation`), so vLLM can
drop what it has not classified yet; it is counted and logged as 499, as the embedded server does
for the requests it skips.

A task with several lines (training/registry.py) has one supervised vLLM process per line; a
request picks its model by name (none: the main line's), `/v1/models` lists them all, main line
first, and `/metrics` carries the main line's vLLM metrics (two vLLM expositions do not merge).
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

from classifiers.lines import model_card
from classifiers.metrics import ServingMetrics
from classifiers.server import CLIENT_GONE, client_gone
from classifiers.validation import RequestRejected, error_response, parse_classify_request
from classifiers.vllm_process import VllmProcess
from classifiers.vllm_supervisor import VllmSupervisor

log = logging.getLogger(__name__)


def create_vllm_proxy_app(
    supervisors: list[VllmSupervisor], metrics: ServingMetrics, *, max_text_chars: int, max_inputs: int
) -> FastAPI:
    """`supervisors`: one per line, the main line's first."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for supervisor in supervisors:  # one after the other: vLLM's start-up is CPU-bound
            await asyncio.to_thread(supervisor.start)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0))
        yield
        await app.state.http.aclose()
        for supervisor in supervisors:
            await asyncio.to_thread(supervisor.stop)

    app = FastAPI(title=f"BloomWatch {supervisors[0].task} classifier (vLLM)", lifespan=lifespan)

    def by_line() -> dict[str, VllmProcess]:
        """The process serving each line now, main line first: read once per request, so a hot
        reload meanwhile cannot mix versions within one answer."""
        return {supervisor.line: supervisor.upstream for supervisor in supervisors}

    def upstreams() -> dict[str, VllmProcess]:
        """The processes serving now by model name, main line first."""
        return {process.name: process for process in by_line().values()}

    @app.post("/classify")
    async def classify(http_request: Request) -> Response:
        started = time.perf_counter()
        serving = upstreams()
        raw = await http_request.body()
        try:
            request = parse_classify_request(
                raw, served_models=tuple(serving), max_text_chars=max_text_chars, max_inputs=max_inputs
            )
        except RequestRejected as exc:
            metrics.requests.labels(status=int(exc.status)).inc()
            return exc.response()
        upstream = serving[request.model or next(iter(serving))]
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
        serving = by_line()
        for upstream in serving.values():
            try:
                healthy = (await app.state.http.get(f"{upstream.base_url}/health", timeout=5)).status_code == 200
            except httpx.HTTPError:
                healthy = False
            if not healthy:
                return error_response(
                    HTTPStatus.SERVICE_UNAVAILABLE, f"vLLM for {upstream.name} is not healthy", "ServiceUnavailable"
                )
        main = next(iter(serving.values()))
        lines = {line: upstream.name for line, upstream in serving.items()}
        return JSONResponse(
            {"status": "ok", "model": main.name, "languages": list(main.version.languages), "lines": lines}
        )

    @app.get("/v1/models")
    async def models() -> Response:
        """Every line's model with the languages its version reads (the manifest's; vLLM knows
        nothing of them)."""
        cards = [
            model_card(process.name, process.version.languages, line, max_model_len=process.max_model_len)
            for line, process in by_line().items()
        ]
        return JSONResponse({"object": "list", "data": cards})

    @app.get("/metrics")
    async def prometheus() -> Response:
        """BloomWatch's proxy metrics followed by vLLM's own (`vllm:*`), one scrape for both."""
        own = metrics.render()
        try:
            upstream = supervisors[0].upstream
            engine = (
                await app.state.http.get(f"{upstream.base_url}/metrics", headers=upstream.auth_headers, timeout=5)
            ).content
        except httpx.HTTPError:
            engine = b""
        return Response(own + engine, media_type=metrics.content_type)

    return app

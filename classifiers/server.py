"""The embedded classifier server: vLLM's `/classify` API over the in-process engine.

Forward passes run on one dedicated thread: torch already uses every allowed core inside a pass,
so concurrent passes would only fight over them; requests queue instead and the event loop stays
free to accept connections and to answer /health and /metrics while a batch runs. They queue in
the event loop, on a fair lock, so that a request whose client gave up while it waited (a stalled
or slow pass ahead of it; the client's timeout) is skipped, answered 499 and logged, instead of
being classified for nobody and again when the client retries. Each request
takes the engine reference once, so a hot reload swapping `state.engines` never changes the model
under a request that is already running.

A task with several lines (training/registry.py) has one engine per line; a request picks its
model by name (vLLM's `model` field; none: the main line's), and `/v1/models` lists every one,
main line first, with the languages it reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from classifiers.embedded import EmbeddedEngine, InvalidPrompt, softmax
from classifiers.hot_reload import PointerWatcher, require_current
from classifiers.lines import model_card, serving_lines
from classifiers.metrics import ServingMetrics
from classifiers.precision import load_engine
from classifiers.types import ClassificationData, ClassificationRequest, ClassificationResponse, UsageInfo
from classifiers.validation import RequestRejected, error_response, parse_classify_request
from training.registry import ModelVersion, Registry

log = logging.getLogger(__name__)
CLIENT_GONE = 499  # nginx's "client closed request": the status counted for skipped requests


async def client_gone(http_request: Request) -> None:
    """Returns once the client has closed its connection (the body has been read already, so the
    next ASGI message is the disconnect; uvicorn sends it at once, or when the response is sent).

    Awaiting it is what makes uvicorn see the close: it stops reading a connection whose last
    chunk of body took its buffer over 64 KiB and resumes only inside `receive()`, so a one-off
    `Request.is_disconnected()` on a 400-text request can miss a client long gone."""
    while (await http_request.receive())["type"] != "http.disconnect":
        pass


def create_embedded_app(
    registry: Registry,
    task: str,
    *,
    max_text_chars: int,
    max_inputs: int,
    max_model_len: int,
    max_batch_tokens: int,
    precision: str,
    reload_poll_s: float,
) -> FastAPI:
    def load(version: ModelVersion) -> EmbeddedEngine:
        return load_engine(version, precision, max_model_len=max_model_len, max_batch_tokens=max_batch_tokens)

    lines = serving_lines(registry, task)
    metrics = ServingMetrics(task, "embedded")
    forward_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
    forward_turn = asyncio.Lock()  # FIFO: the queue of requests waiting for the forward thread
    swapping = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engines = {}  # line -> engine, main line first
        watchers = []
        for line in lines:
            current = require_current(registry, task, line)
            app.state.engines[line] = load(current)
            metrics.serving(current.name, line)

            def swap(version: ModelVersion, line: str = line) -> None:
                engine = load(version)
                with swapping:  # each line's watcher swaps on its own thread: one replacement at a time
                    app.state.engines = {**app.state.engines, line: engine}
                metrics.serving(version.name, line)

            watcher = PointerWatcher(
                registry,
                task,
                current.version,
                swap,
                poll_s=reload_poll_s,
                on_result=lambda outcome: metrics.reloads.labels(outcome=outcome).inc(),
                line=line,
            )
            watchers.append(watcher.start())
        yield
        for watcher in watchers:
            watcher.stop()
        forward_thread.shutdown(wait=True)

    app = FastAPI(title=f"BloomWatch {task} classifier (embedded)", lifespan=lifespan)

    def served() -> dict[str, EmbeddedEngine]:
        """The engines by model name, main line first (one read of the reference: a swap replaces the dict)."""
        return {engine.name: engine for engine in app.state.engines.values()}

    def run_forward(engine: EmbeddedEngine, request: ClassificationRequest) -> tuple[list[list[float]], int]:
        token_ids = engine.tokenize(request.texts, request.truncate_prompt_tokens, request.truncation_side)
        logits = engine.logits(token_ids)
        scores = logits if request.use_activation is False else softmax(logits)
        return scores.tolist(), sum(len(row) for row in token_ids)

    def skipped(reason: str) -> Response:
        """A request whose client has gone: counted and logged as 499, never classified."""
        metrics.requests.labels(status=CLIENT_GONE).inc()
        log.warning(reason)
        return Response(status_code=CLIENT_GONE)

    @app.post("/classify")
    async def classify(http_request: Request) -> Response:
        started = time.perf_counter()
        engines = served()
        try:
            body = await http_request.body()
        except ClientDisconnect:  # gone before its request was even read in (a busy server)
            return skipped("skipped a request: its client gave up before the body was read")
        gone = asyncio.ensure_future(client_gone(http_request))
        try:
            request = parse_classify_request(
                body, served_models=tuple(engines), max_text_chars=max_text_chars, max_inputs=max_inputs
            )
            engine = engines[request.model or next(iter(engines))]
            async with forward_turn:
                if gone.done():
                    return skipped(
                        f"skipped a request of {len(request.texts)} texts: its client gave up while it waited"
                    )
                scores, prompt_tokens = await asyncio.get_running_loop().run_in_executor(
                    forward_thread, run_forward, engine, request
                )
        except RequestRejected as exc:
            metrics.requests.labels(status=int(exc.status)).inc()
            return exc.response()
        except InvalidPrompt as exc:
            metrics.requests.labels(status=400).inc()
            return error_response(HTTPStatus.BAD_REQUEST, str(exc), param="input")
        finally:
            gone.cancel()
        response = ClassificationResponse(
            id=f"classify-{time.time_ns():x}",
            created=int(time.time()),
            model=engine.name,
            data=[
                ClassificationData(
                    index=i,
                    label=engine.labels[max(range(len(row)), key=row.__getitem__)],
                    probs=row,
                    num_classes=len(row),
                )
                for i, row in enumerate(scores)
            ],
            usage=UsageInfo(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens),
        )
        metrics.requests.labels(status=200).inc()
        metrics.texts.inc(len(scores))
        metrics.tokens.inc(prompt_tokens)
        metrics.latency.observe(time.perf_counter() - started)
        return JSONResponse(response.model_dump())

    @app.get("/health")
    async def health() -> dict:
        main = next(iter(app.state.engines.values()))
        return {
            "status": "ok",
            "model": main.name,
            "languages": list(main.languages),
            "precision": main.precision,
            "lines": {line: engine.name for line, engine in app.state.engines.items()},
        }

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [
                model_card(
                    engine.name, engine.languages, line, root=str(engine.path), max_model_len=engine.max_model_len
                )
                for line, engine in app.state.engines.items()
            ],
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app

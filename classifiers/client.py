"""Async client for a classifier server's `/classify` API (vLLM's or the embedded server's).

The stream processors call this and nothing else, so it owns the failure policy: transient
failures (connection refused or reset, timeouts, 5xx, 429) are retried with exponential backoff
and jitter because classification is idempotent; a 4xx is the caller's input and is raised at
once; when the server stays unreachable the caller gets `ClassifierUnavailable` and can stop
consuming instead of dead-lettering good documents. A request that omits `model` is answered by
whichever version the server's main line serves now (hot reload); one that names a model (a task
with several lines) gets `ModelNotServed` once a hot reload has replaced it. The response's `model`
field names the version on every prediction. Texts longer than the model's context are truncated to it
(`truncate_prompt_tokens=-1`) rather than rejected, the same on both servers; the caller may say
which end to keep (`truncation_side`, vLLM's parameter: "right", the default, keeps the start).

A request that gets no answer within `timeout_s` is logged, counted (`on_timeout`, e.g. a
Prometheus counter) and abandoned: the connection is closed, and the embedded server skips a
request whose client went away before its forward pass began, so a retry is not classified twice.

`served_models()` asks the server which versions it serves (one per line) and which languages
each reads (`/v1/models`), with the same failure policy, so a caller can send each document to a
model that reads it and keep the others from a model that never learnt their language.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Literal, NamedTuple

import httpx
from pydantic import ValidationError

from bloomwatch.prediction import Prediction
from bloomwatch.tasks import labels_for
from classifiers.types import ClassificationResponse, ModelList

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

log = logging.getLogger(__name__)


class ClassifierError(RuntimeError):
    """Base class: anything that stops a batch from being classified."""


class ClassifierUnavailable(ClassifierError):
    """The server could not be reached (or kept failing) after all retries."""


class ModelNotServed(ClassifierError):
    """The server no longer serves the model a request named (a hot reload replaced it): not the
    documents' fault; ask `served_models()` again and resend."""


class ClassifyRejected(ClassifierError):
    """The server refused the request (4xx): retrying the same input cannot help."""

    def __init__(self, status_code: int, message: str):
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class ServedModel(NamedTuple):
    """A version a server answers with now, the languages (ISO 639-1 codes) it reads and its line."""

    name: str
    languages: frozenset[str]
    line: str = ""


class ClassifyClient:
    def __init__(
        self,
        base_url: str,
        task: str,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
        batch_size: int = 64,
        backoff_s: float = 0.25,
        on_timeout: Callable[[], object] | None = None,
        token: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.task = task
        self.labels = labels_for(task)
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.backoff_s = backoff_s
        self._semaphore = asyncio.Semaphore(max_concurrency)
        headers = {"Authorization": f"Bearer {token}"} if token else None  # servers with tokens (bloomwatch/access.py)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(timeout_s), headers=headers)

    async def __aenter__(self) -> ClassifyClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health(self) -> bool:
        try:
            response = await self._http.get("/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def classify(
        self, texts: list[str], truncation_side: Literal["left", "right"] | None = None, model: str | None = None
    ) -> list[Prediction]:
        """Predictions in input order; long lists go out as concurrent requests of `batch_size`.
        `truncation_side`: which end of an over-long text to drop (None: the server's default, "right").
        `model`: a served model's name (None: the main line's)."""
        if not texts:
            return []
        payload: dict[str, object] = {"truncate_prompt_tokens": -1}
        payload |= {"truncation_side": truncation_side} if truncation_side else {}
        payload |= {"model": model} if model is not None else {}
        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        try:
            results = await asyncio.gather(*(self._classify_chunk({"input": chunk, **payload}) for chunk in chunks))
        except ClassifyRejected as exc:
            if model is not None and exc.status_code == 404:
                raise ModelNotServed(f"{self.base_url} no longer serves {model}: {exc.message}") from exc
            raise
        return [prediction for chunk_result in results for prediction in chunk_result]

    async def _classify_chunk(self, payload: dict) -> list[Prediction]:
        async with self._semaphore:
            response = await self._post_with_retries(payload)
        return self._parse(response, expected=len(payload["input"]))

    async def served_models(self) -> tuple[ServedModel, ...]:
        """The versions the server answers with now, main line first, and the languages each reads
        (`/v1/models`); a server that does not say reads English (`training.registry.DEFAULT_LANGUAGES`)."""
        response = await self._with_retries(lambda: self._http.get("/v1/models"), "the model list")
        try:
            body = ModelList.model_validate_json(response.content)
        except ValidationError as exc:
            raise ClassifierError(f"malformed /v1/models response from {self.base_url}: {exc}") from exc
        if not body.data:
            raise ClassifierError(f"no served model listed by {self.base_url}")
        return tuple(ServedModel(card.id, frozenset(card.languages), card.line) for card in body.data)

    async def _post_with_retries(self, payload: dict) -> httpx.Response:
        return await self._with_retries(
            lambda: self._http.post("/classify", json=payload), f"{len(payload['input'])} texts"
        )

    async def _with_retries(self, send: Callable[[], Awaitable[httpx.Response]], what: str) -> httpx.Response:
        """`send()`'s 200 response; transient failures retried, a 4xx raised (`what`: for the logs)."""
        last_error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                response = await send()
            except httpx.TimeoutException as exc:
                if self.on_timeout is not None:
                    self.on_timeout()
                log.warning(
                    "%s classifier at %s: no answer within %gs to %s (attempt %d of %d); request abandoned",
                    self.task,
                    self.base_url,
                    self.timeout_s,
                    what,
                    attempt + 1,
                    self.max_retries + 1,
                )
                last_error = f"{type(exc).__name__}: no answer within {self.timeout_s:g}s"
                continue
            except httpx.TransportError as exc:  # connect/read/write errors
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 200:
                return response
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code}: {_error_message(response)}"
                continue
            raise ClassifyRejected(response.status_code, _error_message(response))
        raise ClassifierUnavailable(
            f"classifier at {self.base_url} unavailable after {self.max_retries + 1} attempts ({last_error})"
        )

    def _parse(self, response: httpx.Response, expected: int) -> list[Prediction]:
        try:
            body = ClassificationResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise ClassifierError(f"malformed /classify response from {self.base_url}: {exc}") from exc
        if len(body.data) != expected:
            raise ClassifierError(f"asked for {expected} predictions, got {len(body.data)} from {self.base_url}")
        predictions = []
        for item in sorted(body.data, key=lambda d: d.index):
            if item.num_classes != len(self.labels) or item.label not in self.labels:
                raise ClassifierError(
                    f"model {body.model} at {self.base_url} predicts {item.num_classes} classes "
                    f"(label {item.label!r}); task {self.task!r} expects {self.labels}"
                )
            probs = dict(zip(self.labels, item.probs, strict=True))
            predictions.append(Prediction(label=item.label, probs=probs, model_version=body.model))
        return predictions


def _error_message(response: httpx.Response) -> str:
    """vLLM puts the reason in `error.message`, FastAPI in `detail`; fall back to the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if "message" in body:
            return str(body["message"])
        if "detail" in body:
            return str(body["detail"])
    return response.text[:500]

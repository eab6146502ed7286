"""A stalled classifier: the client logs and counts each timeout, and the embedded server does not
classify the requests the client abandoned while they waited behind the stalled forward pass.

The server is the real embedded app (real model, real HTTP through uvicorn on a port); the only
fault injected is a forward pass that blocks until the test releases it.
"""

import asyncio
import logging
import threading

import httpx
import pytest
from pipeline_support import wait_until_async
from serving_support import serve_in_thread

from classifiers.client import ClassifierUnavailable, ClassifyClient
from classifiers.embedded import EmbeddedEngine
from classifiers.server import create_embedded_app

TIMEOUT_S = 1.0


@pytest.fixture
def stalled_server(tiny_registry, monkeypatch):
    """(url, texts per forward pass since the warm-up, release): the first pass after a warm-up
    stalls until `release` is set."""
    passes: list[int] = []
    release, warm = threading.Event(), threading.Event()
    real_logits = EmbeddedEngine.logits

    def stalling_logits(engine, token_ids):
        if warm.is_set():
            passes.append(len(token_ids))
            if len(passes) == 1:
                release.wait(30)
        return real_logits(engine, token_ids)

    monkeypatch.setattr(EmbeddedEngine, "logits", stalling_logits)
    app = create_embedded_app(tiny_registry, "sentiment", max_text_chars=20_000, max_inputs=1_000, max_model_len=128,
                              max_batch_tokens=8192, precision="fp32", reload_poll_s=60)  # fmt: skip
    with serve_in_thread(app) as url:
        httpx.post(f"{url}/classify", json={"input": ["warm-up"]}, timeout=60).raise_for_status()
        warm.set()
        yield url, passes, release
        release.set()


def test_abandoned_requests_are_counted_and_not_classified(stalled_server, caplog):
    url, passes, release = stalled_server
    timeouts = []
    caplog.set_level(logging.WARNING)

    async def run():
        async with ClassifyClient(
            url, "sentiment", timeout_s=TIMEOUT_S, max_retries=0, on_timeout=lambda: timeouts.append(1)
        ) as client:
            stalled = asyncio.create_task(client.classify(["this pass stalls"]))
            await wait_until_async(lambda: passes == [1], 30, "the stalled pass to hold the forward thread")
            waiting = [asyncio.create_task(client.classify([f"waiting text {i}", "another"])) for i in range(3)]
            outcomes = await asyncio.gather(stalled, *waiting, return_exceptions=True)
            await asyncio.sleep(0.5)  # the server notices the closed connections
            release.set()
            await asyncio.sleep(1.0)  # the queue drains: skipped, not classified
            after = await client.classify(["the server answers again"])
        return outcomes, after

    outcomes, after = asyncio.run(run())
    assert all(isinstance(outcome, ClassifierUnavailable) for outcome in outcomes), outcomes
    assert len(timeouts) == 4
    abandoned = [r for r in caplog.records if "no answer within 1s" in r.getMessage()]
    assert len(abandoned) == 4, [r.getMessage() for r in caplog.records]
    assert passes == [1, 1], passes  # the stalled pass, then the last request: none of the 3 abandoned
    assert len(after) == 1
    metrics = httpx.get(f"{url}/metrics").text
    assert 'bloomwatch_classify_requests_total{status="499"} 3.0' in metrics, metrics
    skipped = [r for r in caplog.records if "its client gave up while it waited" in r.getMessage()]
    assert len(skipped) == 3


def test_a_retry_after_a_timeout_is_classified_once(stalled_server):
    url, passes, release = stalled_server

    async def run():
        retry_timeouts = []
        async with (
            ClassifyClient(url, "sentiment", timeout_s=TIMEOUT_S, max_retries=0) as stalling,
            ClassifyClient(
                url,
                "sentiment",
                timeout_s=2 * TIMEOUT_S,
                max_retries=3,
                backoff_s=0.5,
                on_timeout=lambda: retry_timeouts.append(1),
            ) as retrying,
        ):
            stalled = asyncio.create_task(stalling.classify(["this pass stalls"]))
            await wait_until_async(lambda: passes == [1], 30, "the stalled pass to hold the forward thread")
            retried = asyncio.create_task(retrying.classify(["first", "second"]))
            await wait_until_async(
                lambda: bool(retry_timeouts), 30, "the first attempt to time out"
            )  # abandoned while it waited
            await asyncio.sleep(
                0.2
            )  # the retry (after its 0.5 s back-off) is not queued yet; the close is seen at once
            release.set()
            return await asyncio.gather(stalled, return_exceptions=True), await retried

    (stalled,), retried = asyncio.run(run())
    assert isinstance(stalled, ClassifierUnavailable)
    assert len(retried) == 2
    assert passes == [1, 2], passes  # the stalled pass, then the retry: the abandoned attempt was skipped

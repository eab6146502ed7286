"""An injected negative burst through the real pipeline, for the alerts end-to-end test and
bench/alerts.py: a signed-webhook receiver, texts the served sentiment model really labels
negative (or not), and a paced stream for two sources of which one bursts.

The tiny random test classifier labels every templated review the same way, but random word
strings split across its labels: the burst is made of strings the running model labels negative,
so the alert fires on real scores, not on a faked column.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from classifiers.client import ClassifyClient
from streams.alerts.notify import verify_signature
from streams.publisher import Publisher

WORDS = (
    "bank shares fell rose great terrible service food phone battery film loved worst broke hotel clean rates "
    "striker cup satellite refund delay outage branch app card fee loan account support queue"
).split()
SECRET = "test-secret"
BURST_SOURCE, QUIET_SOURCE = "acme-bank", "quiet-shop"

RULES_TOML = """
[[rules]]
name = "negative-share-by-{group_by}"
metric = "negative_share"
{scope}group_by = ["{group_by}"]
window_s = {window_s}
baseline_windows = 12
min_baseline_windows = 3
threshold = 3.0
immediate_threshold = 5.0
for_windows = 2
min_volume = 20
min_ratio = 1.5
min_delta = 0.1
resolve_below = 1.5
cooldown_s = 60
severity = "critical"
"""


def rules_toml(window_s: int, group_by: str = "source", scope: str = "") -> str:
    """One negative-share rule grouped by `group_by`; `scope` is a TOML inline table, e.g. '{ kind = ["review"] }'."""
    return RULES_TOML.format(window_s=window_s, group_by=group_by, scope=f"scope = {scope}\n" if scope else "")


def write_rules(path: Path, window_s: int) -> Path:
    path.write_text(rules_toml(window_s))
    return path


def alert_env(rules: Path, webhook_url: str) -> dict[str, str]:
    return {
        "BLOOMWATCH_ALERTS_RULES": str(rules),
        "BLOOMWATCH_ALERTS_INTERVAL_S": "1",
        "BLOOMWATCH_ALERTS_GRACE_S": "2",
        "BLOOMWATCH_ALERTS_WEBHOOK_URL": webhook_url,
        "BLOOMWATCH_ALERTS_WEBHOOK_SECRET": SECRET,
        "BLOOMWATCH_ALERTS_WEBHOOK_BACKOFF_S": "0.2",
    }


@dataclass
class Received:
    at: float
    payload: dict
    signed: bool
    headers: dict[str, str]


class WebhookReceiver:
    """An aiohttp server on 127.0.0.1 in its own thread; checks X-BloomWatch-Signature.

    `behaviour` "ok" answers 200; "fail" answers 500; "hang" never answers (a dead receiver)."""

    def __init__(self, port: int, behaviour: str = "ok"):
        self.port = port
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.calls = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info) -> None:
        async def cancel_requests() -> None:  # a hanging handler would otherwise outlive the loop
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(cancel_requests(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.read()
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if self.behaviour == "fail":
            return web.Response(status=500)
        signed = verify_signature(SECRET, request.headers, body)
        self.received.append(Received(time.time(), json.loads(body), signed, dict(request.headers)))
        return web.Response(text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def wait_for(self, status: str, timeout_s: float) -> Received:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := [r for r in self.received if r.payload["status"] == status]:
                return found[0]
            time.sleep(0.2)
        raise TimeoutError(
            f"no {status} webhook call within {timeout_s:.0f}s (got {[r.payload['status'] for r in self.received]})"
        )


def labelled_texts(
    sentiment_url: str,
    n: int = 600,
    seed: int = 7,
    margin: float = 0.02,
    candidates: list[str] | None = None,
    model: str | None = None,
) -> tuple[list[str], list[str]]:
    """(texts the served model labels negative, texts it labels otherwise), clear of ties; from
    `candidates`, else from `n` strings of test words. `model`: a served model by name (None: the main line's)."""
    rng = random.Random(seed)
    if candidates is None:
        candidates = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) for _ in range(n)]

    async def classify():
        async with ClassifyClient(sentiment_url, "sentiment") as client:
            return await client.classify(candidates, model=model)

    negative, other = [], []
    for text, prediction in zip(candidates, asyncio.run(classify()), strict=True):
        ranked = sorted(prediction.probs.values(), reverse=True)
        if ranked[0] - ranked[1] < margin:
            continue
        (negative if prediction.label == "negative" else other).append(text)
    assert len(negative) >= 20 and len(other) >= 20, (len(negative), len(other))
    return negative, other


@dataclass
class BurstStream:
    """Sources at `rate_per_source` documents/s each; the `bursting` ones are `burst_share`
    negative from `burst_at_s` for `burst_s` seconds, every other time and source `base_share`."""

    settings: object
    negative: list[str]
    other: list[str]
    rate_per_source: float = 10.0
    base_share: float = 0.15
    burst_share: float = 0.85
    burst_at_s: float | None = 40.0  # None: no burst
    burst_s: float = 40.0
    bursting: tuple[str, ...] = (BURST_SOURCE,)
    quiet: tuple[str, ...] = (QUIET_SOURCE,)
    lang: str = "en"  # what the documents declare
    first_burst_published: float | None = None
    published: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        rng = random.Random(11)
        started = time.time()
        async with Publisher(kafka=self.settings.kafka, max_text_chars=self.settings.max_text_chars) as publisher:
            while not self.stop.is_set():
                elapsed = time.time() - started
                due = int(elapsed * self.rate_per_source) + 1
                batch = []
                sources = self.bursting + self.quiet
                for number in range(self.published // len(sources), due):
                    for source in sources:
                        bursting = (
                            source in self.bursting and self.burst_at_s is not None
                            and self.burst_at_s <= elapsed < self.burst_at_s + self.burst_s
                        )  # fmt: skip
                        if bursting and self.first_burst_published is None:
                            self.first_burst_published = time.time()
                        negative = rng.random() < (self.burst_share if bursting else self.base_share)
                        text = rng.choice(self.negative if negative else self.other)
                        batch.append(
                            {
                                "id": f"{source}-{number}",
                                "source": source,
                                "kind": "review",
                                "text": text,
                                "lang": self.lang,
                            }
                        )
                if batch:
                    result = await publisher.publish(batch)
                    assert not result.rejected, result.rejected[:3]
                    self.published += len(batch)
                await asyncio.sleep(0.1)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

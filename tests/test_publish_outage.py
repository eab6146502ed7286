"""Publishing while the broker is down or restarting: every path answers within the publish
timeout with a retryable rejection (Python: `retryable` rejections; HTTP: 503 + Retry-After;
CLI: a clear message, exit 2), and a graceful restart costs neither a busy loop nor a log flood.

The tests own their broker (streams/broker.py, i.e. scripts/kafka.sh) so they can stop it.
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
import time

import httpx
import pytest
from kafka_consume import consume, unique_topics

from bloomwatch.net import free_port
from bloomwatch.settings import Settings
from streams.broker import KafkaBroker
from streams.publisher import Publisher
from streams.topics import ensure_topics, topic_specs

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PUBLISH_TIMEOUT_S = 3.0
SLACK_S = 2.0  # scheduling on a loaded 2-core machine


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    broker = KafkaBroker(tmp_path_factory.mktemp("outage-kafka"), free_port())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def settings(broker) -> Settings:
    if not broker.is_running():
        broker.start()
    settings = Settings(
        **unique_topics("outage"), kafka_bootstrap=broker.bootstrap, publish_timeout_s=PUBLISH_TIMEOUT_S
    )
    asyncio.run(ensure_topics(broker.bootstrap, topic_specs(settings.kafka)))
    return settings


def documents(start: int, n: int) -> list[dict]:
    return [
        {"id": f"d-{i}", "source": "wire", "kind": "news", "text": f"Story number {i}."}
        for i in range(start, start + n)
    ]


class Counting(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.lines += 1


def test_graceful_restart_while_publishing_is_bounded_quiet_and_idle(broker, settings):
    """Publish every 0.2 s across a controlled shutdown and restart: no call waits past the
    timeout, the producer's log stays small and the process does not spin."""
    counting = Counting()
    logging.getLogger("aiokafka").addHandler(counting)
    durations, accepted, refused = [], set(), set()

    async def run() -> tuple[float, float]:
        async with Publisher(broker.bootstrap, settings.kafka) as publisher:
            assert (await publisher.publish(documents(0, 1))).accepted == ["d-0"]
            restart = asyncio.create_task(asyncio.to_thread(lambda: (broker.stop(), broker.start())))
            cpu, wall = time.process_time(), time.monotonic()
            i, resumed_by = 1, None
            while not restart.done() or not accepted:  # until a publish after the restart succeeds
                if restart.done():
                    resumed_by = resumed_by or time.monotonic() + 30
                    assert time.monotonic() < resumed_by, "publishing did not resume within 30 s of the restart"
                started = time.monotonic()
                result = await publisher.publish(documents(i, 5))
                durations.append(time.monotonic() - started)
                if restart.done():
                    accepted.update(result.accepted)
                refused.update(r.id for r in result.rejected if r.retryable)
                assert all(r.retryable for r in result.rejected)
                i += 5
                await asyncio.sleep(0.2)
            await restart
            return time.process_time() - cpu, time.monotonic() - wall

    try:
        cpu_s, wall_s = asyncio.run(run())
    finally:
        logging.getLogger("aiokafka").removeHandler(counting)
    assert max(durations) < PUBLISH_TIMEOUT_S + SLACK_S, durations
    assert refused, "the broker was down for a while: some publishes must have been refused"
    assert accepted, "publishing resumed after the restart"
    assert cpu_s < 0.25 * wall_s, f"{cpu_s:.1f}s CPU in {wall_s:.1f}s: the producer spins"
    assert counting.lines < 5 * wall_s, f"{counting.lines} aiokafka warnings in {wall_s:.0f}s"


def test_broker_down_every_publishing_path_rejects_within_the_timeout(broker, settings, tmp_path):
    """Python, HTTP ingest and CLI started against a live broker; then the broker stops."""
    topics = {f"BLOOMWATCH_{field.upper()}": getattr(settings, field) for field in unique_topics("names")}
    env = {**os.environ, **topics, "BLOOMWATCH_KAFKA_BOOTSTRAP": broker.bootstrap,
           "BLOOMWATCH_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S)}  # fmt: skip
    bloomwatch = [sys.executable, "-c", "from app.cli import app; app()"]
    port = free_port()
    ingest = subprocess.Popen([*bloomwatch, "ingest", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)  # fmt: skip
    cli = subprocess.Popen([*bloomwatch, "publish", "--topic", "news", "-"], env=env, stdin=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, "the ingest server")
        cli.stdin.write("".join(json.dumps(d) + "\n" for d in documents(0, 1000)))  # one full chunk
        cli.stdin.flush()
        assert len(consume(broker.bootstrap, [settings.topic_news], expected=1000, timeout_s=60)) == 1000

        async def python_publisher() -> tuple[float, list, float]:
            async with Publisher(broker.bootstrap, settings.kafka) as publisher:
                await asyncio.to_thread(broker.stop)
                started = time.monotonic()
                result = await publisher.publish(documents(2000, 20))
                took = time.monotonic() - started
                started = time.monotonic()
            return took, result.rejected, time.monotonic() - started  # the last: stop() with the broker down

        took, rejected, stop_s = asyncio.run(python_publisher())
        assert took < PUBLISH_TIMEOUT_S + SLACK_S
        assert [r.id for r in rejected] == [d["id"] for d in documents(2000, 20)]
        assert all(r.retryable and "not acknowledged within 3s" in r.reason for r in rejected), rejected[:2]
        assert stop_s < PUBLISH_TIMEOUT_S + SLACK_S

        started = time.monotonic()
        response = httpx.post(f"{url}/documents", json=documents(3000, 5), timeout=30)
        assert time.monotonic() - started < PUBLISH_TIMEOUT_S + SLACK_S
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert all(r["retryable"] for r in response.json()["rejected"])

        started = time.monotonic()
        cli.stdin.write("".join(json.dumps(d) + "\n" for d in documents(1000, 10)))
        cli.stdin.close()
        assert cli.wait(timeout=60) == 2
        assert time.monotonic() - started < PUBLISH_TIMEOUT_S + SLACK_S + 5  # + the CLI's own exit
        output = cli.stderr.read()
        assert "stopped taking records (from line 1001" in output, output
        assert "1000 accepted" in output, output
        assert output.count("Unable connect to node") <= 1, output  # summarised (streams/outage_log.py)
    finally:
        for process in (ingest, cli):
            process.kill()
            process.wait(timeout=30)


def _wait_for(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"waiting for {what}")
        time.sleep(0.2)

"""Real processes for the pipeline tests and bench: classifier servers, workers, a store reader.

Every component runs as its own OS process, as in production, so the tests can `kill -9` one.
Each deployment gets its own topics, consumer group, chDB directory and ports, so tests sharing
one broker never see each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
from aiokafka import AIOKafkaProducer
from kafka_consume import read_topic

from app.processes import ManagedProcess, bloomwatch_command, http_ok
from app.status import collect_status
from bloomwatch.access import client_headers
from bloomwatch.net import free_port
from bloomwatch.settings import Settings
from bloomwatch.tasks import tasks
from streams.kafka_security import client_options
from streams.publisher import Publisher
from streams.topics import ensure_topics, topic_specs

NEWS_WORDS = "markets rallied after the central bank held rates while the striker scored twice in the final".split()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


async def wait_until_async(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.02) -> None:
    """`wait_until` for a test running an event loop, which a blocking sleep would stall."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(every_s)


def start_classifier(
    task: str, registry_dir: Path, port: int, log_dir: Path, env: dict[str, str] | None = None
) -> ManagedProcess:
    """`bloomwatch serve --engine embedded` on the registry's current model for `task`."""
    server = ManagedProcess(
        f"classifier-{task}",
        bloomwatch_command("serve", "--engine", "embedded", "--task", task, "--port", str(port)),
        log_path=log_dir / f"classifier-{task}-{port}.log",
        env={"BLOOMWATCH_REGISTRY_DIR": str(registry_dir), "OMP_NUM_THREADS": "1", **(env or {})},
    ).start()
    server.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout_s=120)
    return server


@dataclass
class Deployment:
    """One isolated pipeline on a shared broker: its env, settings and worker processes."""

    root: Path
    bootstrap: str
    sentiment_url: str
    topic_url: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    worker_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[ManagedProcess] = field(default_factory=list)  # every worker started, in order

    @property
    def env(self) -> dict[str, str]:
        return {
            "BLOOMWATCH_HOME": str(self.root / "home"),
            "BLOOMWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "BLOOMWATCH_TOPIC_NEWS": f"news-{self.tag}",
            "BLOOMWATCH_TOPIC_REVIEWS": f"reviews-{self.tag}",
            "BLOOMWATCH_TOPIC_LABELS": f"labels-{self.tag}",
            "BLOOMWATCH_TOPIC_ALERTS": f"alerts-{self.tag}",
            "BLOOMWATCH_TOPIC_DEAD_LETTER": f"dead-letter-{self.tag}",
            "BLOOMWATCH_WORKER_GROUP": f"worker-{self.tag}",
            "BLOOMWATCH_WORKER_PORT": str(self.worker_port),
            "BLOOMWATCH_WORKER_SESSION_TIMEOUT_S": "6",
            "BLOOMWATCH_WORKER_RETRY_BACKOFF_MAX_S": "2",
            "BLOOMWATCH_SENTIMENT_URL": self.sentiment_url,
            "BLOOMWATCH_TOPIC_URL": self.topic_url,
            "OMP_NUM_THREADS": "1",
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        return Settings(
            **{
                key.removeprefix("BLOOMWATCH_").lower(): value
                for key, value in self.env.items()
                if key.startswith("BLOOMWATCH_")
            }
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    def start_worker(self, name: str = "worker") -> ManagedProcess:
        worker = ManagedProcess(
            name, bloomwatch_command("worker"), log_path=self.root / f"{name}.log", env=self.env
        ).start()
        self.workers.append(worker)
        auth = client_headers(self.settings.access)  # the API token, when the deployment sets one
        worker.wait_ready(lambda: http_ok(f"{self.api}/api/documents/count", headers=auth), timeout_s=120)
        return worker

    def wait_until_committed(self, timeout_s: float) -> None:
        """Until the worker group has committed every input offset: each message is then stored or
        dead-lettered (the worker commits only after that). Raises at once if the worker died."""
        worker = self.workers[-1]

        def committed() -> bool:
            if not worker.alive():
                raise RuntimeError(f"{worker.name} died:\n{worker.log_tail()}")
            lag = collect_status(self.settings).consumer_lag
            return lag is not None and sum(lag.values()) == 0

        wait_until(committed, timeout_s, "the worker to commit every input offset", every_s=2)

    def count(self) -> int:
        return httpx.get(
            f"{self.api}/api/documents/count", headers=client_headers(self.settings.access), timeout=10
        ).json()["count"]

    def metrics(self) -> str:
        return httpx.get(f"{self.api}/metrics", headers=client_headers(self.settings.access), timeout=10).text

    def labels_stored(self) -> float:
        """Label events the worker has written: waiting on it, not on a table's content, tells a
        test that an event which changes nothing has in fact been consumed."""
        return metric_value(self.metrics(), "bloomwatch_labels_stored_total")

    def stored_id_counts(self) -> dict[str, int]:
        """Rows per id after FINAL (the worker must be stopped, as for `query_store`)."""
        return dict(self.query_store("SELECT id, count() FROM documents FINAL GROUP BY id"))

    def query_store(self, sql: str) -> list[list]:
        """The rows of `sql`, read from the chDB directory by a fresh process (the worker must be
        stopped: one process owns a chDB directory at a time)."""
        script = (
            "import json, sys; from store.connect import open_client;"
            " print(json.dumps(open_client(sys.argv[1]).query(sys.argv[2]).result_rows))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, self.settings.clickhouse_dsn, sql],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    def create_topics(self) -> None:
        """Up front, as `bloomwatch up` does: a topic auto-created by a publish gets one partition."""
        settings = self.settings
        asyncio.run(
            ensure_topics(settings.kafka_bootstrap, topic_specs(settings.kafka), **client_options(settings.kafka))
        )

    def publish(self, documents: list[dict]) -> list[str]:
        self.create_topics()

        async def send() -> list[str]:
            async with Publisher(
                self.bootstrap, self.settings.kafka, max_text_chars=self.settings.max_text_chars
            ) as publisher:
                result = await publisher.publish(documents)
            assert not result.rejected, result.rejected[:3]
            return result.accepted

        return asyncio.run(send())

    def publish_raw(self, topic: str, values: list[tuple[bytes | None, bytes]]) -> None:
        """(key, value) pairs sent as they are, bypassing validation: what a buggy publisher does."""
        self.create_topics()

        async def send() -> None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                max_request_size=4 * 1024 * 1024,
                **client_options(self.settings.kafka),
            )
            await producer.start()
            try:
                for key, value in values:
                    await producer.send_and_wait(topic, value, key=key)
            finally:
                await producer.stop()

        asyncio.run(send())

    def read_dead_letters(self, expected: int, timeout_s: float = 60) -> list[dict]:
        """The dead-letter topic's records once it holds `expected` (or what it holds at the timeout)."""
        records: list[dict] = []

        def enough() -> bool:
            records[:] = read_topic(self.bootstrap, self.settings.topic_dead_letter)
            return len(records) >= expected

        try:
            wait_until(enough, timeout_s, f"{expected} dead-letter records", every_s=1)
        except TimeoutError:
            pass
        return records


def classifier_ports(settings: Settings) -> dict[str, int]:
    """The port each task's classifier server answers on under `settings` (Task.classifier_url):
    the built-in tasks' from the settings, a tasks file's from the file."""
    return {task.name: urlparse(task.classifier_url(settings)).port for task in tasks()}


@contextmanager
def running_pipeline(
    registry_dir: Path, bootstrap: str, root: Path, before_worker: Callable[[Deployment], None] | None = None
) -> Iterator[Deployment]:
    """A classifier server per task on the registry's current models and a worker, on a fresh
    Deployment; all stopped on exit. `before_worker` runs first (e.g. writing to the chDB store the
    worker will own)."""
    with ExitStack() as stack:
        deployment = Deployment(
            root=root,
            bootstrap=bootstrap,
            sentiment_url=f"http://127.0.0.1:{free_port()}",
            topic_url=f"http://127.0.0.1:{free_port()}",
            extra_env={"BLOOMWATCH_REGISTRY_DIR": str(registry_dir)},  # the models' figures on the dashboard
        )
        for task, port in classifier_ports(deployment.settings).items():
            server = start_classifier(task, registry_dir, port, root / "logs")
            stack.callback(server.stop, timeout_s=30)
        if before_worker is not None:
            before_worker(deployment)
        worker = deployment.start_worker()
        stack.callback(worker.stop, timeout_s=60)
        yield deployment


def synthetic_documents(n: int, prefix: str = "doc") -> list[dict]:
    """n valid documents, half news and half reviews, with varied text lengths."""
    documents = []
    for i in range(n):
        words = [NEWS_WORDS[(i * 7 + j) % len(NEWS_WORDS)] for j in range(8 + i % 24)]
        documents.append(
            {
                "id": f"{prefix}-{i:05d}",
                "source": "test-wire" if i % 2 else "test-shop",
                "kind": "news" if i % 2 else "review",
                "text": " ".join(words),
                "lang": "en",
            }
        )
    return documents


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample over series whose labels include `labels`."""
    total = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all(f'{key}="{val}"' in series for key, val in labels.items()):
            total += float(value)
    return total


# Runs in a fresh process (a chDB directory belongs to one process): the worker app as
# `bloomwatch worker` builds it, and the (method, path) of every route its router holds.
_WORKER_ROUTES = """
import json, sys, tempfile
from bloomwatch.settings import Settings
from bloomwatch.tasks import tasks
from classifiers.client import ClassifyClient
from store.connect import connect
from store.documents import DocumentStore
from app.worker_app import create_app
settings = Settings(home=tempfile.mkdtemp())
classifiers = {task.name: ClassifyClient(task.classifier_url(settings), task.name) for task in tasks()}
app = create_app(settings, classifiers=classifiers, store=DocumentStore(connect(settings.store)))
routes = {(route.method, route.resource.canonical) for route in app.web.web_app.router.routes()}
print(json.dumps(sorted(routes)))
"""


def worker_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route of the worker's web server, from its router (HEAD
    and the static files left out), so a route added later is in every test that walks them."""
    out = subprocess.run([sys.executable, "-c", _WORKER_ROUTES], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    routes = json.loads(out.stdout.strip().splitlines()[-1])
    return [(method, path) for method, path in routes if method != "HEAD" and not path.startswith("/dashboard/static")]


def concrete_path(template: str) -> str:
    """A path that a route template matches: each `{name}` or `{name:regex}` becomes `x`."""
    return re.sub(r"\{[^}]+\}", "x", template)

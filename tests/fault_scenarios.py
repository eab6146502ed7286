"""The fault suite: one fault injected into a running pipeline while documents stream in, and the
count of where every published document went.

Shared by tests/test_pipeline_faults.py (asserts) and bench/faults.py (the per-fault table). A
`Rig` is a broker and both classifier servers of our own (the suite kills them); each fault gets a
fresh Deployment (topics, group, chDB directory) and worker. Documents are published at a steady
pace from a thread, retrying what Kafka did not take, so the fault hits the stream in mid-flight;
it is injected once a quarter of them are stored. Faults are real: SIGKILL, SIGTERM,
SIGSTOP/SIGCONT, a controlled broker shutdown, and for the store an immutable table directory
(`chattr +i`: root ignores permissions, not that) so ClickHouse cannot create the inserted part.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kafka_consume import read_topic
from pipeline_support import Deployment, start_classifier, synthetic_documents, wait_until

from app.processes import ManagedProcess
from bloomwatch.net import free_port
from streams.broker import KafkaBroker
from streams.publisher import Publisher

DOWN_S = 10.0  # how long a killed component stays down
# the store refuses writes for longer than the worker's bisection of a 256-document batch down to
# one document takes (5 attempts a level, 8 levels, ~65 s at the tests' 2 s backoff cap): a disk
# that stays full, not a blip. Before the worker stopped blaming documents for it, this
# dead-lettered them; 20 and 60 s outages ended before the bisection reached one document.
STORE_DOWN_S = 90.0
STALL_S = 35.0  # a frozen classifier: longer than the worker's 30 s request timeout
CHUNK = 50  # documents per publish call
PACE_S = 0.25  # between publish calls: ~200 documents/s, so the stream outlasts the fault's onset


@dataclass
class Rig:
    """A broker and the two classifier servers, shared by the faults in turn."""

    root: Path
    registry_dir: Path
    broker: KafkaBroker
    ports: dict[str, int] = field(default_factory=lambda: {"sentiment": free_port(), "topic": free_port()})
    classifiers: dict[str, ManagedProcess] = field(default_factory=dict)

    def start_classifier(self, task: str) -> None:
        self.classifiers[task] = start_classifier(task, self.registry_dir, self.ports[task], self.root / "logs")

    def start(self) -> Rig:
        self.broker.start()
        for task in self.ports:
            self.start_classifier(task)
        return self

    def stop(self) -> None:
        for server in self.classifiers.values():
            server.stop()
        self.broker.stop()

    def deployment(self, name: str) -> Deployment:
        return Deployment(
            root=self.root / name,
            bootstrap=self.broker.bootstrap,
            sentiment_url=f"http://127.0.0.1:{self.ports['sentiment']}",
            topic_url=f"http://127.0.0.1:{self.ports['topic']}",
        )


# --- the faults: each returns once the fault is over (the component is back or replaced) --------


def broker_kill9(rig: Rig, deployment: Deployment) -> None:
    rig.broker.kill()
    time.sleep(DOWN_S)
    rig.broker.start()


def broker_restart(rig: Rig, deployment: Deployment) -> None:
    rig.broker.stop()
    rig.broker.start()


def classifier_kill9(rig: Rig, deployment: Deployment) -> None:
    rig.classifiers["sentiment"].kill()
    time.sleep(DOWN_S)
    rig.start_classifier("sentiment")


def classifier_stall(rig: Rig, deployment: Deployment) -> None:
    pid = rig.classifiers["topic"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_S)
    finally:
        os.kill(pid, signal.SIGCONT)


def worker_kill9(rig: Rig, deployment: Deployment) -> None:
    deployment.workers[-1].kill()
    deployment.start_worker(f"worker-{len(deployment.workers) + 1}")


def worker_sigterm(rig: Rig, deployment: Deployment) -> None:
    deployment.workers[-1].stop()
    deployment.start_worker(f"worker-{len(deployment.workers) + 1}")


def store_write_failure(rig: Rig, deployment: Deployment) -> None:
    table_dir = documents_table_dir(Path(deployment.settings.clickhouse_dsn.removeprefix("chdb://")))
    subprocess.run(["chattr", "+i", str(table_dir)], check=True)
    try:
        time.sleep(STORE_DOWN_S)
    finally:
        subprocess.run(["chattr", "-i", str(table_dir)], check=True)


def documents_table_dir(chdb_dir: Path) -> Path:
    """Where chDB keeps the `documents` table's parts (data/default/documents links into store/)."""
    return (chdb_dir / "data" / "default" / "documents").resolve(strict=True)


FAULTS: dict[str, Callable[[Rig, Deployment], None]] = {
    "broker kill -9": broker_kill9,
    "broker graceful restart": broker_restart,
    "classifier kill -9": classifier_kill9,
    "classifier stall (SIGSTOP)": classifier_stall,
    "worker kill -9": worker_kill9,
    "worker SIGTERM": worker_sigterm,
    "ClickHouse write failure": store_write_failure,
}


# --- one run ------------------------------------------------------------------------------------


@dataclass
class FaultResult:
    fault: str
    published: int
    stored: int
    dead_lettered: int
    lost: int
    double_counted: int
    seconds: float
    dead_letter_reasons: list[str] = field(default_factory=list)


class SteadyPublisher(threading.Thread):
    """Publishes `documents` in chunks at a pace, resending whatever Kafka did not take, until
    every one is accepted; `accepted` is the set of ids Kafka acknowledged."""

    def __init__(self, deployment: Deployment, documents: list[dict]):
        super().__init__(daemon=True)
        self.deployment, self.documents = deployment, documents
        self.accepted: set[str] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as error:  # noqa: BLE001 - surfaced by the caller
            self.error = error

    async def _publish(self) -> None:
        pending = list(self.documents)
        async with Publisher(self.deployment.bootstrap, self.deployment.settings.kafka) as publisher:
            while pending:
                chunk, pending = pending[:CHUNK], pending[CHUNK:]
                result = await publisher.publish(chunk)
                self.accepted.update(result.accepted)
                if not all(rejection.retryable for rejection in result.rejected):
                    raise AssertionError(f"valid documents refused: {result.rejected[:3]}")
                pending = [chunk[rejection.position] for rejection in result.rejected] + pending
                await asyncio.sleep(PACE_S)


def stored_count(deployment: Deployment) -> int:
    try:
        return deployment.count()
    except (httpx.HTTPError, ValueError, KeyError):
        return 0  # the worker is restarting


def run_fault(rig: Rig, fault: str, n: int, drain_timeout_s: float = 600) -> FaultResult:
    started = time.monotonic()
    deployment = rig.deployment(FAULTS[fault].__name__)
    deployment.create_topics()
    deployment.start_worker()
    documents = synthetic_documents(n, prefix=FAULTS[fault].__name__)
    publisher = SteadyPublisher(deployment, documents)
    publisher.start()
    try:
        wait_until(lambda: stored_count(deployment) >= n // 4, drain_timeout_s, "a quarter of the documents stored")
        assert stored_count(deployment) < n, "the stream ended before the fault: publish more documents"
        FAULTS[fault](rig, deployment)
        publisher.join(drain_timeout_s)
        if publisher.error is not None:
            raise publisher.error
        deployment.wait_until_committed(drain_timeout_s)
        dead_letters = read_topic(deployment.bootstrap, deployment.settings.topic_dead_letter)
    finally:
        for worker in deployment.workers:
            worker.stop()
    counts = deployment.stored_id_counts()
    published = publisher.accepted
    assert published == {doc["id"] for doc in documents}, "every document is eventually accepted"
    dead_ids = {record["document_id"] for record in dead_letters}
    return FaultResult(
        fault=fault,
        published=len(published),
        stored=len(published & set(counts)),
        dead_lettered=len(published & dead_ids),
        lost=len(published - set(counts) - dead_ids),
        double_counted=sum(1 for i in published if counts.get(i, 0) > 1),
        seconds=round(time.monotonic() - started, 1),
        dead_letter_reasons=sorted({record["error_type"] for record in dead_letters}),
    )

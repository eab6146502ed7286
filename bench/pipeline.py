"""Pipeline benchmark, all figures from one run on one machine:

1. classifier alone: the classifier servers (one per task) driven by ClassifyClient directly with the worker's
   requests (per task and truncation side), same batch size and batches in flight as the worker -> docs/s
   (measured before and after (2) with no worker running, mean of the two: the load drifts);
2. end to end: a backlog of documents in Kafka (published while no worker runs) drained by one
   worker (consume, classify every task, write ClickHouse, commit) -> docs/s, and the ratio to (1)
   (target >= 0.8);
3. latency: documents published at 50% of (2)'s rate; publish (Kafka record timestamp) -> row
   written (ingested_at), p50/p99 over the phase (target p99 <= 2 s);
4. kill -9: the worker is SIGKILLed mid-stream and restarted; lost and double-counted documents
   (rows per id after FINAL) must both be 0.

Writes the figures into bench/results.json (read-modify-write, other keys kept).
Usage: python bench/pipeline.py [--registry DIR] [--docs 5000]
(without --registry: the deployment's registry, else small models trained once into bench/out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pipeline_support import (  # noqa: E402
    Deployment,
    classifier_ports,
    metric_value,
    start_classifier,
    synthetic_documents,
    wait_until,
)  # fmt: skip
from results_file import record  # noqa: E402

from bloomwatch.net import free_port  # noqa: E402
from bloomwatch.settings import get_settings  # noqa: E402
from bloomwatch.tasks import task_names, tasks  # noqa: E402
from classifiers.client import ClassifyClient  # noqa: E402
from streams.broker import KafkaBroker  # noqa: E402
from streams.publisher import Publisher  # noqa: E402
from streams.worker import by_truncation_side  # noqa: E402
from training.registry import Registry  # noqa: E402


def registry_with_models(path: Path | None) -> Registry:
    candidates = (
        [Registry(path)]
        if path
        else [Registry(get_settings().registry_dir), Registry(REPO / "bench" / "out" / "registry")]
    )
    for registry in candidates:
        if all(registry.current(task) for task in task_names()):
            return registry
    from training.pipeline import train_task

    registry = candidates[-1]
    for task in task_names():
        if registry.current(task) is None:
            print(f"training a small {task} model into {registry.root} (once)", flush=True)
            train_task(task, fast=True, registry=registry, data_dir=get_settings().data_dir)
    return registry


async def classifier_alone(deployment: Deployment, documents: list[dict], batch: int, in_flight: int) -> float:
    """docs/s of the classifier servers sent exactly the worker's requests: batches of `batch`
    documents, `in_flight` at a time, each one request per task and truncation side (streams/worker.py)."""
    worker = deployment.settings.worker  # the request size and concurrency the worker passes (app/worker_runner.py)
    sizes = {"batch_size": worker.classify_request_texts, "max_concurrency": worker.classify_max_concurrency}
    clients = {task: ClassifyClient(task.classifier_url(deployment.settings), task.name, **sizes) for task in tasks()}
    batches = [documents[i : i + batch] for i in range(0, len(documents), batch)]
    gate = asyncio.Semaphore(in_flight)

    async def one(chunk: list[dict]) -> None:
        kinds = [document["kind"] for document in chunk]
        async with gate:
            await asyncio.gather(
                *(
                    client.classify([chunk[i]["text"] for i in indices], side)
                    for task, client in clients.items()
                    for side, indices in by_truncation_side(task, kinds).items()
                )
            )

    await one(batches[0])  # warm-up
    started = time.perf_counter()
    await asyncio.gather(*(one(chunk) for chunk in batches))
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.aclose()
    return len(documents) / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to show where the machine's cores went."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes at nice <= 0 have used, over all cores (Linux /proc/stat: user,
    system, irq, softirq; not `nice`, so a niced background job is not counted): beside the
    processes' own figures it shows what the broker took and whether the cores were saturated."""
    user, _nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def stored_rows(deployment: Deployment) -> float:
    """Rows the worker has written, from its /metrics counter. Polled 10 times a second during the
    drain, this is what the benchmark watches: `/api/documents/count` runs a `count() FINAL` on the
    worker's one ClickHouse thread, between the inserts it is timing (py-spy: 14% of the worker's
    CPU at that rate)."""
    return metric_value(deployment.metrics(), "bloomwatch_documents_stored_total")


async def publish_paced(deployment: Deployment, documents: list[dict], rate: float) -> None:
    async with Publisher(deployment.bootstrap, deployment.settings.kafka) as publisher:
        started = time.monotonic()
        sent = 0
        while sent < len(documents):
            due = min(len(documents), int((time.monotonic() - started) * rate) + 1)
            if due > sent:
                result = await publisher.publish(documents[sent:due])
                assert not result.rejected, result.rejected[:3]
                sent = due
            await asyncio.sleep(0.01)


def latency_quantiles(deployment: Deployment, since: datetime) -> dict:
    import subprocess

    script = (
        "import json, sys; from datetime import datetime; from store.connect import open_client;"
        " from store.documents import DocumentStore;"
        "print(json.dumps(DocumentStore(open_client(sys.argv[1])).latency_quantiles(datetime.fromisoformat(sys.argv[2]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, deployment.settings.clickhouse_dsn, since.isoformat()],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", type=Path)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    args = parser.parse_args()
    settings = get_settings()
    registry = registry_with_models(args.registry)
    models = {task: registry.current(task).name for task in task_names()}
    print(f"models: {models} from {registry.root}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bloomwatch-bench-") as tmp:
        root = Path(tmp)
        broker = KafkaBroker(root / "kafka", free_port())
        broker.start()
        servers = []
        try:
            sentiment_url, topic_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))

            def deployment(name: str) -> Deployment:
                return Deployment(
                    root=root / name, bootstrap=broker.bootstrap, sentiment_url=sentiment_url, topic_url=topic_url
                )

            docs = synthetic_documents(args.docs, prefix="bench")
            main_run = deployment("throughput")
            servers = [
                start_classifier(task, registry.root, port, root)
                for task, port in classifier_ports(main_run.settings).items()
            ]

            def measure_classifier_alone() -> float:
                rate = asyncio.run(
                    classifier_alone(main_run, docs, settings.worker_batch_size, settings.worker_concurrency)
                )
                print(f"classifier alone ({' + '.join(task_names())}): {rate:.0f} docs/s", flush=True)
                return rate

            alone_before = measure_classifier_alone()

            # Warm the servers and the store, then stop the worker so the documents wait in Kafka
            # as a backlog: publishing them while the worker drains would time the publisher too.
            warm_up = main_run.start_worker("worker-warm-up")
            main_run.publish(synthetic_documents(200, prefix="warmup"))
            wait_until(lambda: main_run.count() >= 200, 120, "warm-up rows")
            main_run.wait_until_committed(60)  # else the next worker would count them again
            warm_up.stop()
            main_run.publish(docs)
            worker = main_run.start_worker()
            try:
                processes = {"worker": worker, **{server.name: server for server in servers}}
                # Timed from the new worker's first stored row to its last (its counters start at
                # 0), so its start-up is not part of the rate.
                wait_until(lambda: stored_rows(main_run) > 0, 120, "the first stored row", every_s=0.05)
                cpu_before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
                busy_before, started, first = machine_busy_seconds(), time.perf_counter(), stored_rows(main_run)
                wait_until(lambda: stored_rows(main_run) >= args.docs, 600, f"{args.docs} rows", every_s=0.1)
                busy, wall = machine_busy_seconds() - busy_before, time.perf_counter() - started
                drained = args.docs - first
                e2e = drained / wall
                cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in processes.items()}
                print(f"end to end: {e2e:.0f} docs/s", flush=True)
                print(
                    "CPU seconds per 1000 documents: "
                    + ", ".join(f"{n} {1000 * c / drained:.2f}" for n, c in cpu.items())
                )
                available = (os.cpu_count() or 1) * wall
                print(
                    f"machine while draining (processes at nice <= 0): {busy:.1f} of {available:.1f} "
                    f"core-seconds busy ({100 * busy / available:.0f}%), {busy - sum(cpu.values()):.1f} of them beyond the "
                    "worker and servers (broker, this script's polling)",
                    flush=True,
                )
                rate = e2e / 2
                n_latency = int(rate * args.latency_seconds)
                since = datetime.now(UTC)
                before = main_run.count()
                asyncio.run(publish_paced(main_run, synthetic_documents(n_latency, prefix="latency"), rate))
                wait_until(lambda: main_run.count() >= before + n_latency, 120, "latency-phase rows")
            finally:
                worker.stop()
            # The machine's load drifts: the classifier alone is measured before and after the
            # end-to-end run (each time with no worker running), and the mean brackets that period.
            alone = (alone_before + measure_classifier_alone()) / 2
            print(f"end to end / classifier alone: {e2e / alone:.2f}", flush=True)
            latency = latency_quantiles(main_run, since)
            print(
                f"latency at {rate:.0f} docs/s (50% of max), {latency['count']} docs: "
                f"p50 {latency['p50']:.3f} s, p99 {latency['p99']:.3f} s",
                flush=True,
            )

            kill_run = deployment("kill9")
            ids = kill_run.publish(synthetic_documents(args.docs, prefix="kill9"))
            first = kill_run.start_worker("worker-1")
            try:
                wait_until(lambda: kill_run.count() >= args.docs // 3, 600, "a third of the rows", every_s=0.1)
                stored_at_kill = kill_run.count()
            finally:
                first.kill()
            second = kill_run.start_worker("worker-2")
            try:
                wait_until(lambda: kill_run.count() >= args.docs, 600, "all rows after the restart")
                time.sleep(2)  # anything still in flight would show up as an extra id now
                consumed_again = metric_value(kill_run.metrics(), "bloomwatch_documents_consumed_total")
            finally:
                second.stop()
            counts = kill_run.stored_id_counts()
            lost = len(set(ids) - set(counts))
            doubled = sum(n - 1 for n in counts.values() if n > 1) + len(set(counts) - set(ids))
            print(
                f"kill -9 mid-stream: {len(ids)} published, {stored_at_kill} stored before the kill, "
                f"{int(stored_at_kill + consumed_again - len(ids))} re-delivered after the restart; "
                f"{len(counts)} ids stored, lost {lost}, double-counted {doubled}",
                flush=True,
            )
        finally:
            for server in servers:
                server.stop()
            broker.stop()

    figures = {
        "pipeline.docs_per_s": round(e2e, 1),
        "pipeline.classifier_alone.docs_per_s": round(alone, 1),
        "pipeline.e2e_over_classifier": round(e2e / alone, 3),
        "pipeline.p50_latency_s": round(latency["p50"], 3),
        "pipeline.p99_latency_s": round(latency["p99"], 3),
        "pipeline.kill9.lost": lost,
        "pipeline.kill9.double_counted": doubled,
    }
    record(figures)


if __name__ == "__main__":
    main()

"""`bloomwatch up`: the whole pipeline on one machine, from an empty directory to live scores.

Order matters and is reversed on the way down: broker -> topics -> models (the shipped ones
adopted if the registry is empty) -> one classifier server per task -> worker (creates the tables, owns the
chDB store) -> retraining scheduler -> demo stream. Ctrl-C or SIGTERM stops the demo first, then
the retraining scheduler, the worker (it finishes its batch and commits), then the classifiers
and the broker, so a stop never loses a document.
"""

from __future__ import annotations

import asyncio
import signal
import time
from urllib.parse import urlparse

import httpx
from rich.text import Text

from app.processes import ManagedProcess, bloomwatch_command, http_ok
from bloomwatch.access import client_headers
from bloomwatch.json_input import parse_json
from bloomwatch.output import log_console
from bloomwatch.progress import progress_bar
from bloomwatch.settings import Settings, get_settings
from bloomwatch.tasks import task_names, tasks, watched_task
from streams.broker import KafkaBroker

console = log_console()  # `up > up.log 2>&1`: one line per message, URLs never split


def run_up(*, engine: str | None, duration_s: float | None, limit: int | None, rate: float, keep_broker: bool) -> None:
    """`engine`: the classifier servers' engine, embedded or vllm (None: settings.engine)."""
    settings = get_settings()
    engine = engine or settings.engine
    logs = settings.home / "logs"
    broker = KafkaBroker.from_settings(settings)
    started_broker = not broker.is_running()
    children: list[ManagedProcess] = []
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with console.status("starting Kafka"):
            try:
                broker.start()
            except RuntimeError as error:  # a taken port, a broker that exits: its reason, not a traceback
                console.print(f"[red]{error}[/red]")
                raise SystemExit(1) from None
        console.print(f"Kafka: {broker.bootstrap} (log {broker.log_path})")
        _ensure_topics(settings)
        _ensure_models(settings)
        _start_classifiers(settings, engine, logs, children)
        worker = ManagedProcess("worker", bloomwatch_command("worker"), log_path=logs / "worker.log").start()
        children.append(worker)
        with console.status("starting the worker"):
            count_url, auth = f"{settings.worker_url}/api/documents/count", client_headers(settings.access)
            worker.wait_ready(lambda: http_ok(count_url, headers=auth), timeout_s=180)
        # nice'd, one torch thread (training/retrain/cli.py): reads labels through the worker
        children.append(
            ManagedProcess(
                "retrain", bloomwatch_command("retrain", "--schedule"), log_path=logs / "retrain.log"
            ).start()
        )
        _print_where_to_look(settings, logs)
        asyncio.run(_demo(settings, children, duration_s=duration_s, limit=limit, rate=rate))
    except KeyboardInterrupt:
        console.print("stopping (Ctrl-C / SIGTERM)")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        for child in reversed(children):
            with console.status(f"stopping {child.name}"):
                child.stop(timeout_s=60)
        if started_broker and not keep_broker:
            with console.status("stopping Kafka"):
                broker.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
        console.print("stopped")


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _ensure_topics(settings: Settings) -> None:
    from streams.kafka_security import client_options
    from streams.topics import ensure_topics, topic_specs

    counts = asyncio.run(
        ensure_topics(settings.kafka_bootstrap, topic_specs(settings.kafka), **client_options(settings.kafka))
    )
    console.print("topics: " + ", ".join(f"{name} ({n} partitions)" for name, n in sorted(counts.items())))


def _ensure_models(settings: Settings) -> None:
    """An empty registry starts from the shipped default models (seconds); a task with neither
    gets a small demo model trained here (minutes on a CPU)."""
    from training.registry import BASE, Registry, seed_from

    registry = Registry(settings.registry_dir)
    adopted = seed_from(registry, settings.shipped_models_dir, task_names())
    if adopted:  # with the base they were fine-tuned from: `bloomwatch train` starts from it too
        adopted += seed_from(registry, settings.shipped_models_dir, (BASE,))
    for version in adopted:
        console.print(
            f"registry {settings.registry_dir}: adopted the shipped {version.task} model as {version.version}"
        )
    for task in task_names():
        current = registry.current(task)
        if current is None:
            from training.pipeline import train_task

            console.print(f"registry {settings.registry_dir} has no {task} model: training a small one")
            current = train_task(task, fast=True, registry=registry, data_dir=settings.data_dir, home=settings.home)
        console.print(f"model {current.name}: {current.path}")


def _start_classifiers(settings: Settings, engine: str, logs, children: list[ManagedProcess]) -> None:
    """One server per task, one after the other (vLLM's start-up is CPU-bound: two at once on a
    small host only make both slower); progress while they start, then each one's start-up time.
    Each joins `children` as soon as it is started, so one that fails to come up is stopped too."""
    hint = " (vLLM: a minute or more each on CPU)" if engine == "vllm" else ""
    with progress_bar(total=len(tasks()), desc=f"classifiers ready{hint}", unit="server") as bar:
        for served in tasks():
            task, url = served.name, served.classifier_url(settings)
            started = time.monotonic()
            server = ManagedProcess(
                f"classifier-{task}",
                bloomwatch_command("serve", "--engine", engine, "--task", task, "--port", str(urlparse(url).port)),
                log_path=logs / f"classifier-{task}.log",
            ).start()
            children.append(server)
            bar.set_postfix_str(f"starting {task} ({engine})")

            def ready(url=url) -> bool:
                bar.refresh()  # off a terminal: a timestamped line every 10 s while vLLM loads
                return http_ok(f"{url}/health")

            server.wait_ready(ready, timeout_s=600)
            bar.write(f"{task} classifier ({engine}) ready on {url} after {time.monotonic() - started:.0f}s")
            bar.set_postfix_str(f"{task} ready", refresh=False)  # not "starting" in the line `update` logs
            bar.update(1)


def _print_where_to_look(settings: Settings, logs) -> None:
    api = settings.worker_url
    console.print(
        "\n[bold]BloomWatch is up[/bold]\n"
        f"  dashboard          {api}/dashboard\n"
        f"  documents stored   {api}/api/documents/count\n"
        f"  one document       {api}/api/documents/ID\n"
        f"  search documents   {api}/api/documents/search?q=&label=\n"
        "  what runs, lag     bloomwatch status\n"
        f"  stats              {api}/api/stats\n"
        f"  ingest (POST)      {api}/documents\n"
        f"  Prometheus         {api}/metrics\n"
        f"  labels (POST)      {api}/labels\n"
        f"  what to label      bloomwatch label queue --task {watched_task().name}\n"
        f"  retraining audit   {api}/api/model-versions\n"
        f"  alerts             {api}/api/alerts (bloomwatch alerts list), printed here as they fire\n"
        f"  classifiers        {', '.join(f'{t.classifier_url(settings)}/classify' for t in tasks())}\n"
        f"  ClickHouse         {settings.clickhouse_where} (owned by the worker while it runs)\n"
        f"  model registry     {settings.registry_dir}\n"
        f"  logs               {logs}\n"
        "Ctrl-C stops everything.\n"
    )


async def _demo(
    settings: Settings, children: list[ManagedProcess], *, duration_s: float | None, limit: int | None, rate: float
) -> None:
    """Publish the demo stream and report progress until the limit is stored or time is up."""
    from streams.demo import run_demo_stream
    from streams.publisher import Publisher

    started = time.monotonic()
    api = httpx.AsyncClient(base_url=settings.worker_url, timeout=10, headers=client_headers(settings.access))
    async with api, Publisher(kafka=settings.kafka, max_text_chars=settings.max_text_chars) as publisher:
        baseline = await _stored(api)
        alerts = asyncio.create_task(_print_alerts(settings))
        demo = asyncio.create_task(run_demo_stream(publisher, rate_per_s=rate, limit=limit, settings=settings))
        try:
            with progress_bar(total=limit, desc="demo: documents stored", unit="doc") as bar:
                while True:
                    await asyncio.sleep(1.0)
                    stored = await _stored(api) - baseline
                    elapsed = time.monotonic() - started
                    bar.update(max(0, stored - bar.n))
                    if dead := [child.name for child in children if not child.alive()]:
                        raise RuntimeError(f"{', '.join(dead)} exited; see {settings.home / 'logs'}")
                    if demo.done() and (failure := demo.exception()):
                        raise failure
                    if limit is not None and demo.done() and stored >= demo.result():
                        console.print(f"demo: {demo.result()} documents published and stored in {elapsed:.1f}s")
                        return
                    if duration_s is not None and elapsed >= duration_s:
                        console.print(f"demo: {stored} documents stored in {elapsed:.0f}s")
                        return
        finally:
            demo.cancel()
            alerts.cancel()
            await asyncio.gather(demo, alerts, return_exceptions=True)


async def _print_alerts(settings: Settings) -> None:
    """Print every alert notification (firing, resolved) from the alerts topic as it comes."""
    from aiokafka import AIOKafkaConsumer

    from streams.kafka_security import client_options

    consumer = AIOKafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        **client_options(settings.kafka),
    )
    await consumer.start()
    try:
        async for record in consumer:
            console.print(alert_line(record.value))
    finally:
        await consumer.stop()


def alert_line(message: bytes) -> Text:
    """An alerts-topic message as `up` prints it. Text, not Rich markup: the alert names a
    publisher's source, and a source such as `[/bold]` parsed as markup stopped the printer; so
    did a message that is no alert (anyone who may write to the topic), now one line saying so."""
    from streams.alerts.notify import alert_text

    try:
        payload = parse_json(message)
        style = "bold red" if payload["status"] == "firing" else "bold green"
        return Text.assemble(("ALERT", style), " ", alert_text(payload))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return Text(f"alerts topic: skipped a message that is no alert ({type(error).__name__})")


async def _stored(api: httpx.AsyncClient) -> int:
    response = await api.get("/api/documents/count")
    response.raise_for_status()
    return response.json()["count"]

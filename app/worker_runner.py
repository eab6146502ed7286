"""Start one worker process: topics, schema, classifier clients, then faust until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bloomwatch.settings import get_settings


def run_worker(*, loglevel: str = "info") -> None:
    import faust
    from aiokafka.errors import KafkaConnectionError

    from app.worker_app import create_app
    from bloomwatch.access import client_token
    from bloomwatch.tasks import tasks
    from classifiers.client import ClassifyClient
    from store.connect import connect
    from store.documents import DocumentStore
    from store.migration import current_sorting_key, layout_outdated, outdated_columns
    from streams import metrics
    from streams.kafka_security import KafkaSecurityError, client_options
    from streams.outage_log import summarise_kafka_outages
    from streams.topics import ensure_topics, topic_specs, wait_for_group_coordinator

    settings = get_settings()
    # faust runs on the thread's current loop; creating it here lets the set-up share it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    kafka = client_options(settings.kafka)
    try:
        loop.run_until_complete(ensure_topics(settings.kafka_bootstrap, topic_specs(settings.kafka), **kafka))
    except KafkaSecurityError as error:  # wrong user or password: say so, not a traceback
        raise SystemExit(f"worker: {error}") from None
    except KafkaConnectionError:
        raise SystemExit(
            f"worker: cannot reach Kafka at {settings.kafka_bootstrap}: start it with `scripts/kafka.sh start` "
            "(or `bloomwatch up`), or set BLOOMWATCH_KAFKA_BOOTSTRAP"
        ) from None
    waited = loop.run_until_complete(
        wait_for_group_coordinator(settings.kafka_bootstrap, settings.worker_group, **kafka)
    )
    if waited > 0.5:
        print(
            f"worker: waited {waited:.1f}s for the broker's group coordinator (normal right after it starts)",
            flush=True,
        )
    store = DocumentStore(connect(settings.store))
    store.ensure_schema()
    if layout_outdated(store.client):
        print(
            f"worker: the documents table has an earlier layout (sorted by ({current_sorting_key(store.client)}); column types"
            f" changed since: {outdated_columns(store.client) or 'none'}): it works, but the dashboard queries are slower;"
            " stop the workers and run `bloomwatch documents migrate`",
            flush=True,
        )
    timeouts = metrics.CLASSIFY_TIMEOUTS
    token = client_token(settings.access)
    worker = settings.worker  # a batch goes to each classifier as requests of this many texts, this many at once
    sizes = {"batch_size": worker.classify_request_texts, "max_concurrency": worker.classify_max_concurrency}
    classifiers = {
        task.name: ClassifyClient(
            task.classifier_url(settings), task.name, on_timeout=timeouts.labels(task.name).inc, token=token, **sizes
        )
        for task in tasks()
    }
    app = create_app(settings, classifiers=classifiers, store=store)

    @app.on_before_shutdown.connect
    async def _close_clients(sender: object, /, *args: Any, **kwargs: Any) -> None:
        for client in classifiers.values():
            await client.aclose()

    print(
        f"worker: Kafka {settings.kafka_bootstrap} -> ClickHouse {settings.clickhouse_where}\n"
        f"worker: API {settings.worker_url}/api/documents/count, {settings.worker_url}/api/stats, "
        f"metrics {settings.worker_url}/metrics",
        flush=True,
    )

    class OutageSummarisingWorker(faust.Worker):
        """Kafka outages summarised in the log (streams/outage_log.py), once faust has set up the
        root logger's handlers."""

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            summarise_kafka_outages(settings.kafka_bootstrap, settings.kafka_outage_reminder_s)

    OutageSummarisingWorker(app, loglevel=loglevel, loop=loop).execute_from_commandline()

"""Server mode (`bloomwatch dashboard`): the same page and API in their own process, reading a
ClickHouse server directly and the pipeline health from a worker's /metrics.

It serves POST /labels itself (the page's one-click label correction): the worker's address is
usually not reachable from an analyst's browser in that deployment. Same handler as the worker's
and `bloomwatch ingest`'s (streams/ingest.py: validation, per-index report), publishing to Kafka,
and behind the dashboard token when one is set."""

from __future__ import annotations

import httpx
from aiohttp import web

from bloomwatch.access import AccessPolicy, aiohttp_middleware, client_headers
from bloomwatch.settings import Settings
from dashboards.data import DashboardData
from dashboards.web import Backend, routes
from store.connect import connect
from store.executor import StoreThread
from streams.ingest import PublisherOnDemand, label_ingest
from streams.publisher import Publisher


def create_dashboard_app(settings: Settings) -> web.Application:
    client = connect(settings.store)
    store_thread = StoreThread()  # one client, one caller

    async def metrics_text() -> str:
        try:
            async with httpx.AsyncClient(timeout=5, headers=client_headers(settings.access)) as http:
                response = await http.get(f"{settings.worker_url}/metrics")
                response.raise_for_status()
                return response.text
        except httpx.HTTPError as exc:
            raise OSError(f"worker metrics at {settings.worker_url}/metrics: {exc}") from exc

    backend = Backend(
        data=DashboardData(client),
        store_thread=store_thread,
        metrics_text=metrics_text,
        registry_dir=settings.registry_dir,
    )
    publisher = PublisherOnDemand(
        Publisher(settings.kafka_bootstrap, settings.kafka, max_text_chars=settings.max_text_chars)
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[aiohttp_middleware(AccessPolicy.from_settings(settings.access))],
    )
    app.add_routes(routes(backend, post_labels=publisher.guard(label_ingest(publisher.publisher, settings.access))))

    async def close(_app: web.Application) -> None:
        await publisher.stop()
        await store_thread.run(client.close)
        store_thread.close()

    app.on_cleanup.append(close)
    return app


def run_dashboard(settings: Settings, host: str, port: int) -> None:
    print(f"dashboard: http://{host}:{port}/dashboard (ClickHouse {settings.clickhouse_where})", flush=True)
    # no access log: its request lines would carry a `?token=` the page was opened with
    web.run_app(create_dashboard_app(settings), host=host, port=port, print=None, access_log=None)

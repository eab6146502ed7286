"""Embedded mode: the dashboard on the worker's own faust web server, reading the chDB store the
worker owns through its store thread (store/executor.py), and health from the worker's own metrics registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import generate_latest

from dashboards.data import DashboardData
from dashboards.web import Backend, routes
from streams import metrics

if TYPE_CHECKING:
    import faust
    from aiohttp.web import Application

    from bloomwatch.settings import Settings
    from streams.worker import BatchProcessor


def mount_dashboard(app: faust.App, settings: Settings, processor: BatchProcessor) -> None:
    async def metrics_text() -> str:
        return generate_latest(metrics.REGISTRY).decode()

    backend = Backend(
        data=DashboardData(processor.store.client),
        store_thread=processor.store_thread,
        metrics_text=metrics_text,
        registry_dir=settings.registry_dir,
    )
    web_application(app).add_routes(routes(backend))


def web_application(app: faust.App) -> Application:
    """The aiohttp application of the worker's faust web server, where routes and middlewares go.
    faust types `app.web` as any web driver; the worker runs its default one, aiohttp."""
    from faust.web.drivers.aiohttp import Web

    web = app.web
    if not isinstance(web, Web):
        raise TypeError(f"the worker's web server is {type(web).__name__}, not faust's aiohttp driver")
    return web.web_app

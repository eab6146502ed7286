"""The built-in dashboard's HTTP side: the page, its static files and the JSON/CSV API, as aiohttp
routes. The same routes run on the worker's faust web server (embedded mode, app.dashboard_embedded)
and in `bloomwatch dashboard` (server mode, app.dashboard_server).

Who may see them is the host's access policy (bloomwatch/access.py, a middleware on both hosts):
with tokens configured, the page and the API answer 401 unless the request carries one, as
`Authorization: Bearer <token>` or `?token=` once on the page, which this page keeps in an
HttpOnly, SameSite=Strict cookie for the API calls the page makes, then redirects to the same
address without it, so the token is not left in the address bar, the history or a bookmark.
The page forbids framing (clickjacking: a framed *Correct label* button) and runs only this
server's scripts (`PAGE_HEADERS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from aiohttp import web

from bloomwatch.access import TOKEN_COOKIE
from bloomwatch.tasks import Unscored, tasks
from dashboards.data import DashboardData
from dashboards.filters import InvalidFilter, parse_filters
from dashboards.health import PipelineHealth, model_figures
from dashboards.queries import dimensions, fixed_values
from store.executor import StoreThread

STATIC_DIR = Path(str(files("dashboards").joinpath("static")))
REFRESH_S = 10
# ECharts styles its elements inline; scripts, data and everything else come from this server only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass
class Backend:
    """What the routes need from their host process."""

    data: DashboardData
    store_thread: StoreThread  # where the synchronous store calls of `data` run
    metrics_text: Callable[[], Awaitable[str]]  # the worker's Prometheus exposition
    registry_dir: Path
    health: PipelineHealth = field(default_factory=PipelineHealth)


def routes(
    backend: Backend, post_labels: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
) -> list[web.AbstractRouteDef]:
    """The page and API; with `post_labels` (server mode) also POST /labels, behind the access policy."""

    def api(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except InvalidFilter as exc:
                return web.json_response({"error": str(exc)}, status=400)

        return guarded

    async def page(request: web.Request) -> web.StreamResponse:
        if "token" in request.query:  # the access middleware accepted it: into the cookie, out of the URL
            address = request.rel_url.with_query([(k, v) for k, v in request.query.items() if k != "token"])
            response = web.Response(status=303, headers={**PAGE_HEADERS, "Location": str(address)})
            response.set_cookie(TOKEN_COOKIE, request.query["token"], httponly=True, samesite="Strict")
            return response
        return web.FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    async def options(request: web.Request) -> web.Response:
        """The filters' values, the task table (the page builds its task charts from it) and why a
        task may leave a document unscored (the unscored chart's series)."""
        known, fixed = await backend.store_thread.run(backend.data.known_values), fixed_values()
        values = {name: list(fixed.get(name) or known.get(name, [])) for name in dimensions()}
        table = [
            {"name": task.name, "labels": list(task.labels), "watched_label": task.watched_label} for task in tasks()
        ]
        reasons = [reason.value for reason in Unscored]  # the unscored panel's columns, in this order
        return web.json_response(
            {"values": values, "tasks": table, "unscored_reasons": reasons, "refresh_s": REFRESH_S}
        )

    async def panels(request: web.Request) -> web.Response:
        filters = parse_filters(request.query)
        return web.json_response(await backend.store_thread.run(backend.data.page, filters))

    async def documents(request: web.Request) -> web.Response:
        filters = parse_filters(request.query)
        return web.json_response(await backend.store_thread.run(backend.data.documents, filters))

    async def documents_csv(request: web.Request) -> web.Response:
        filters = parse_filters(request.query)
        body = await backend.store_thread.run(backend.data.documents_csv, filters)
        return web.Response(
            text=body,
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="bloomwatch-documents.csv"'},
        )

    async def health(request: web.Request) -> web.Response:
        filters = parse_filters(request.query)
        in_use = await backend.store_thread.run(backend.data.query, "models_in_use", filters)
        try:
            pipeline = backend.health.read(await backend.metrics_text())
        except OSError as exc:  # server mode: the worker's /metrics did not answer
            pipeline = {"error": str(exc)}
        return web.json_response({"pipeline": pipeline, "models": model_figures(backend.registry_dir, in_use)})

    labels = [web.post("/labels", api(post_labels))] if post_labels else []
    return labels + [
        web.get("/dashboard", page),
        web.static("/dashboard/static", STATIC_DIR),
        web.get("/api/dashboard/options", api(options)),
        web.get("/api/dashboard/panels", api(panels)),
        web.get("/api/dashboard/documents", api(documents)),
        web.get("/api/dashboard/documents.csv", api(documents_csv)),
        web.get("/api/dashboard/health", api(health)),
    ]

"""`bloomwatch dashboard`: the built-in dashboard for the server deployment (ClickHouse server)."""

import typer


def register(app: typer.Typer) -> None:
    app.command()(dashboard)


def dashboard(
    host: str = typer.Option(None, help="bind address (default BLOOMWATCH_DASHBOARD_HOST)"),
    port: int = typer.Option(None, help="port (default BLOOMWATCH_DASHBOARD_PORT)"),
) -> None:
    """Serve the dashboard page and API, reading ClickHouse directly (BLOOMWATCH_CLICKHOUSE_DSN).

    In embedded mode (chdb://) the worker owns the store and serves the dashboard itself at
    <worker_url>/dashboard; this command is for a ClickHouse server shared by several workers.
    """
    from bloomwatch.settings import get_settings
    from dashboards.server import run_dashboard
    from store.connect import is_embedded

    settings = get_settings()
    if is_embedded(settings):
        typer.echo(f"embedded mode: the worker serves the dashboard at {settings.worker_url}/dashboard", err=True)
    run_dashboard(settings, host or settings.dashboard_host, port or settings.dashboard_port)

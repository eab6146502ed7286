"""`bloomwatch worker`, `up`, `status` and `dashboard`: the commands that start or inspect a whole
process, each assembled in this package from the ones below (imports of heavy libraries stay inside
commands)."""

import typer

from classifiers.cli import Engine


def register(app: typer.Typer) -> None:
    """Attach the process commands to the root CLI."""
    app.command()(worker)
    app.command()(up)
    app.command()(status)
    app.command()(dashboard)


def worker(
    loglevel: str = typer.Option("info", help="faust/worker log level"),
) -> None:
    """Consume news and reviews, classify every document, store the scores in ClickHouse.

    In embedded mode (chdb:// DSN) this process owns the store and serves its read API
    (/api/documents/count, /api/stats) and /metrics; with a ClickHouse server, run one per machine.
    """
    from app.worker_runner import run_worker

    run_worker(loglevel=loglevel)


def up(
    duration: float = typer.Option(None, "--duration", help="stop after this many seconds (default: run until Ctrl-C)"),
    limit: int = typer.Option(None, "--limit", help="publish this many demo documents, stop once all are stored"),
    rate: float = typer.Option(20.0, "--rate", help="demo documents per second"),
    keep_broker: bool = typer.Option(False, "--keep-broker", help="leave the Kafka broker running on exit"),
    engine: Engine = typer.Option(
        None, help="classifier engine: embedded or vllm (default: settings.engine); docs/serving.md"
    ),
) -> None:
    """Start the whole pipeline on this machine and stream a demo; Ctrl-C stops it all.

    Kafka, topics, the models (an empty registry adopts the shipped ones from models/ in seconds;
    only a task with none shipped gets a small model trained here), the classifier servers, the
    worker (tables, API, metrics), the retraining scheduler and a demo stream of news and reviews;
    prints where to look.
    """
    from app.up import run_up

    run_up(engine=engine and engine.value, duration_s=duration, limit=limit, rate=rate, keep_broker=keep_broker)


def status(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """What is running and where: Kafka, each classifier (model version), the worker; documents
    stored and dead-lettered, consumer lag. Exit code 1 when a component is down."""
    import json

    from app.status import collect_status
    from bloomwatch.settings import get_settings

    report = collect_status(get_settings())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for c in report.components:
            typer.echo(f"{c.name:<21} {'running' if c.running else 'DOWN':<8} {c.where}  {c.detail}".rstrip())
        stored = "unknown" if report.documents_stored is None else report.documents_stored
        dead = "unknown" if report.dead_lettered is None else report.dead_lettered
        lag = "unknown" if report.consumer_lag is None else sum(report.consumer_lag.values())
        per_topic = ", ".join(f"{topic} {n}" for topic, n in (report.consumer_lag or {}).items())
        typer.echo(f"{'documents stored':<21} {stored}  in {report.store}")
        for task, reasons in (report.documents_unscored or {}).items():
            detail = ", ".join(f"{reason} {n}" for reason, n in reasons.items()) or "none"
            typer.echo(f"{'unscored ' + task:<21} {sum(reasons.values())}  ({detail})")
        typer.echo(f"{'dead-lettered':<21} {dead}")
        typer.echo(f"{'consumer lag':<21} {lag}" + (f"  ({per_topic})" if per_topic else ""))
        typer.echo(f"{'logs':<21} {report.logs}")
        for problem in report.problems:
            typer.echo(f"  ! {problem}")
    raise typer.Exit(0 if report.all_running else 1)


def dashboard(
    host: str = typer.Option(None, help="bind address (default BLOOMWATCH_DASHBOARD_HOST)"),
    port: int = typer.Option(None, help="port (default BLOOMWATCH_DASHBOARD_PORT)"),
) -> None:
    """Serve the dashboard page and API, reading ClickHouse directly (BLOOMWATCH_CLICKHOUSE_DSN).

    In embedded mode (chdb://) the worker owns the store and serves the dashboard itself at
    <worker_url>/dashboard; this command is for a ClickHouse server shared by several workers.
    """
    from app.dashboard_server import run_dashboard
    from bloomwatch.settings import get_settings
    from store.connect import is_embedded

    settings = get_settings()
    if is_embedded(settings.store):
        typer.echo(f"embedded mode: the worker serves the dashboard at {settings.worker_url}/dashboard", err=True)
    run_dashboard(settings, host or settings.dashboard_host, port or settings.dashboard_port)

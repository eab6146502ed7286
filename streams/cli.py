"""`bloomwatch` commands of the streams package (imports of heavy libraries stay inside commands)."""

import typer

from streams.label_cli import label_app
from streams.publish_cli import register as register_publishing


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the root CLI."""
    register_publishing(app)
    app.add_typer(label_app, name="label")
    app.command()(worker)
    app.command()(up)


def worker(
    loglevel: str = typer.Option("info", help="faust/worker log level"),
) -> None:
    """Consume news and reviews, classify every document, store the scores in ClickHouse.

    In embedded mode (chdb:// DSN) this process owns the store and serves its read API
    (/api/documents/count, /api/stats) and /metrics; with a ClickHouse server, run one per machine.
    """
    from streams.runner import run_worker

    run_worker(loglevel=loglevel)


def up(
    duration: float = typer.Option(None, "--duration", help="stop after this many seconds (default: run until Ctrl-C)"),
    limit: int = typer.Option(None, "--limit", help="publish this many demo documents, stop once all are stored"),
    rate: float = typer.Option(20.0, "--rate", help="demo documents per second"),
    keep_broker: bool = typer.Option(False, "--keep-broker", help="leave the Kafka broker running on exit"),
) -> None:
    """Start the whole pipeline on this machine and stream a demo; Ctrl-C stops it all.

    Kafka, topics, a small model per task if the registry is empty, the classifier servers, the
    worker (tables, API, metrics) and a demo stream of news and reviews; prints where to look.
    """
    from streams.up import run_up

    run_up(duration_s=duration, limit=limit, rate=rate, keep_broker=keep_broker)

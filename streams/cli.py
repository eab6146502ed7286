"""`bloomwatch` commands of the streams package (imports of heavy libraries stay inside commands)."""

import typer

from streams.alerts.cli import register as register_alerts
from streams.documents_cli import register as register_documents
from streams.label_cli import label_app
from streams.publish_cli import register as register_publishing


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the root CLI."""
    register_publishing(app)
    app.add_typer(label_app, name="label")
    register_documents(app)
    register_alerts(app)

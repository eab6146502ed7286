"""`bloomwatch` commands of the training package (imports of heavy libraries stay inside commands)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the root CLI."""

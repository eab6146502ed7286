"""The one `bloomwatch` command line: each package contributes its commands, and this package the
commands that start or inspect a whole process (app/commands.py). It stands above every package it
registers, so no package below imports another's command line.

Every command runs inside `_Root.invoke`, so one handler turns the project's expected errors
(bloomwatch/errors.py) into one line and exit status 1, whichever command raised them. Help is
click's plain layout (`rich_markup_mode=None`): typer's rich panels print a `<bool>` placeholder
beside every on/off flag and keep the line breaks of a docstring inside its sentences.
"""

import typer
from typer.core import TyperGroup

from app.commands import register as register_processes
from bloomwatch.errors import ExpectedError
from bloomwatch.library_logs import quiet_library_loggers
from bloomwatch.progress import quiet_library_progress
from classifiers.cli import register as register_classifiers
from streams.cli import register as register_streams
from training.cli import register as register_training


class _Root(TyperGroup):
    """The root group: an expected error of any subcommand is `error: <message>` on stderr, exit 1."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]  # typer's Context is click's, which the base declares
        try:
            return super().invoke(ctx)
        except ExpectedError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Root,
    help="BloomWatch: stream news and reviews through fine-tuned BLOOM classifiers into ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
quiet_library_progress()  # the command modules import transformers only inside commands, after this
quiet_library_loggers()  # every process (worker, classifiers, retrain, alerts) runs through this CLI
register_training(app)
register_classifiers(app)
register_streams(app)
register_processes(app)

if __name__ == "__main__":  # python -m app.cli, where the console script is not on PATH
    app()

"""The one `bloomwatch` command line; each package contributes its commands."""

import typer

from bloomwatch.progress import quiet_library_progress
from classifiers.cli import register as register_classifiers
from dashboards.cli import register as register_dashboards
from streams.cli import register as register_streams
from training.cli import register as register_training

app = typer.Typer(
    help="BloomWatch: stream news and reviews through fine-tuned BLOOM classifiers into ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
quiet_library_progress()  # the command modules import transformers only inside commands, after this
register_training(app)
register_classifiers(app)
register_streams(app)
register_dashboards(app)

"""`bloomwatch label FILE` (publish labels) and `bloomwatch label queue` (what to label next).

The round trip an annotator makes: `label queue --task sentiment --n 50 --out todo.csv` writes the
documents whose labels would help most with an empty `label` column; they fill it in and hand the
file back to `bloomwatch label todo.csv`, which validates and reports by line like `publish`.
Rows left without a label are rejected by line too, so nothing is silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from typer.core import TyperGroup

from bloomwatch.csv_cells import restore_cell, write_csv
from bloomwatch.tasks import task_names
from streams.publish_cli import _bootstrap, console, publish_file

QUEUE_FIELDS = ("document_id", "task", "label", "annotator", "text")  # LabelEvent fields, label left empty


class _FileOrCommand(TyperGroup):
    """`bloomwatch label FILE` runs `label add FILE`; `bloomwatch label queue ...` the subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and (args[0] == "-" or not args[0].startswith("-")):
            args = ["add", *args]
        return super().parse_args(ctx, args)


label_app = typer.Typer(
    cls=_FileOrCommand,
    no_args_is_help=True,
    subcommand_metavar="FILE | COMMAND [ARGS]...",
    help="`bloomwatch label FILE` publishes the human labels in FILE (the same as `label add FILE`; "
    "`label add --help` lists its options); `bloomwatch label queue` writes what to label next.",
)


@label_app.command("add")
def add(
    file: str = typer.Argument(..., help="JSONL or CSV of labels; '-' reads stdin (JSONL unless --format csv)"),
    file_format: str = typer.Option("auto", "--format", help="jsonl | csv | auto (by the file's suffix)"),
    annotator: str | None = typer.Option(None, help="annotator for rows that name none"),
    rejects: Path | None = typer.Option(None, help="write every rejected row as JSONL here (line, id, reason)"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers [default: BLOOMWATCH_KAFKA_BOOTSTRAP]"),
) -> None:
    """Validate and publish labels to the labels topic; report accepted and rejected rows by line.

    Fields (LabelEvent): document_id, task (a task of bloomwatch/tasks.py), label (one of its labels),
    text (optional: for documents that were never streamed), annotator, labelled_at (ISO 8601;
    defaults to now). A later label for the same document and task replaces the earlier one.
    Exit status 1 when any row was rejected.
    """
    from bloomwatch.settings import get_settings
    from streams.records import format_of

    kafka = _bootstrap(bootstrap)

    from_csv = (format_of(file) if file_format == "auto" else file_format) == "csv"

    async def send(publisher, records):
        if from_csv:  # a file from `label queue --out x.csv`: ids and texts back as they were
            records = [{key: restore_cell(value) for key, value in record.items()} for record in records]
        if annotator:
            records = [{"annotator": annotator, **record} for record in records]
        return await publisher.publish_labels(records)

    topic = get_settings().topic_labels
    publish_file(
        file, file_format, send, destination=f"Kafka topic [cyan]{topic}[/] at {kafka}", kafka=kafka, rejects=rejects,
        csv_columns_are_fields=True,
    )  # fmt: skip


@label_app.command("queue")
def queue(
    task: str = typer.Option(..., help=" | ".join(task_names())),
    n: int = typer.Option(50, help="how many documents"),
    by: str = typer.Option("margin", help="margin (smallest top-2 gap) | entropy"),
    out: Path = typer.Option(None, help="file to write (.csv or .jsonl) [default: label-queue-TASK.csv]"),
    worker_url: str = typer.Option(None, help="the worker's API [default: BLOOMWATCH_WORKER_HOST/PORT]"),
) -> None:
    """Write the stored, not yet labelled documents whose labels would help the model most
    (lowest margin or highest entropy, spread over sources) as a file to fill in and hand back."""
    import httpx

    from bloomwatch.access import client_headers
    from bloomwatch.settings import get_settings

    api = worker_url or get_settings().worker_url
    try:
        response = httpx.get(f"{api}/api/labels/queue", params={"task": task, "n": n, "by": by},
                             headers=client_headers(get_settings().access), timeout=60)  # fmt: skip
    except httpx.HTTPError as exc:
        console.print(
            f"[red]cannot reach the worker at {escape(api)}[/] ({escape(str(exc))}); start it with `bloomwatch up` or `bloomwatch worker`"
        )
        raise typer.Exit(2) from None
    if response.status_code != 200:
        console.print(f"[red]{escape(str(response.json().get('error', response.text)))}[/]")
        raise typer.Exit(2)
    items = response.json()["items"]
    out = out or Path(f"label-queue-{task}.csv")
    rows = [
        {"document_id": i["document_id"], "task": task, "label": "", "annotator": "", "text": i["text"]} for i in items
    ]
    if out.suffix.lower() == ".csv":  # opened in a spreadsheet: no cell may run as a formula
        with out.open("w", newline="", encoding="utf-8") as f:
            write_csv(f, QUEUE_FIELDS, ([row[field] for field in QUEUE_FIELDS] for row in rows))
    else:
        out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    sources = sorted({i["source"] for i in items})
    # sources are publishers' strings: `[/bold]` is text here, not Rich markup
    console.print(
        f"{len(items)} documents to label ({escape(by)}; sources: {escape(', '.join(sources)) or 'none'}) -> {escape(str(out))}"
    )
    console.print(f"fill in the label column ({escape(task)} labels), then: bloomwatch label {escape(str(out))}")

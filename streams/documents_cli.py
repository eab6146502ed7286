"""`bloomwatch documents show ID | search ...`: look up stored documents while the pipeline runs;
`bloomwatch documents migrate`: rebuild the table of an earlier version in today's layout.

Reads through the worker in embedded mode and ClickHouse directly in server mode (store/reader.py).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bloomwatch.output import print_table

err = Console(stderr=True)
documents = typer.Typer(help="Look up stored documents (with their scores).", no_args_is_help=True)
TEXT_PREVIEW = 70


def register(app: typer.Typer) -> None:
    app.add_typer(documents, name="documents")


@documents.command()
def show(document_id: str = typer.Argument(..., help="the document's id")) -> None:
    """Print one stored document as JSON: text, metadata, every task's label, probabilities and model version."""
    from bloomwatch.settings import get_settings
    from store.reader import get_document

    document = _read(lambda: get_document(get_settings(), document_id))
    if document is None:
        err.print(f"no document with id {escape(repr(document_id))}")
        raise typer.Exit(1)
    typer.echo(document.model_dump_json(indent=2))


@documents.command()
def search(
    text: str = typer.Option(None, "--text", "-q", help="text contains this (case-insensitive)"),
    source: str = typer.Option(None, "--source", help="exact source, e.g. agnews-wire"),
    kind: str = typer.Option(None, "--kind", help="news or review"),
    since: str = typer.Option(None, "--from", help="published at or after (ISO 8601 with time zone)"),
    until: str = typer.Option(None, "--to", help="published before (ISO 8601 with time zone)"),
    label: str = typer.Option(None, "--label", help="a label of any task, e.g. negative, sports"),
    lang: str = typer.Option(
        None, "--lang", help="language read from the text (ISO 639-1, e.g. de; und: undetermined)"
    ),
    limit: int = typer.Option(20, "--limit", help="at most this many, newest first (1-1000)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document per line instead of a table"),
) -> None:
    """Find stored documents by text, source, kind, time range, label and language; newest first."""
    from pydantic import ValidationError

    from bloomwatch.settings import get_settings
    from bloomwatch.tasks import task_names
    from store.reader import search_documents
    from streams.documents_api import parse_query
    from streams.publisher import validation_reason

    given = {
        "q": text,
        "source": source,
        "kind": kind,
        "from": since,
        "to": until,
        "label": label,
        "lang": lang,
        "limit": str(limit),
    }
    try:
        query = parse_query({name: value for name, value in given.items() if value is not None})
    except ValidationError as error:
        err.print(f"invalid search: {escape(validation_reason(error, root='query'))}")
        raise typer.Exit(2) from None
    found = _read(lambda: search_documents(get_settings(), query))
    if as_json:
        for document in found:
            typer.echo(document.model_dump_json())
        return
    table = Table(box=None)
    for column in ("published_at", "id", "kind", "source", "lang", *task_names()):
        table.add_column(column, no_wrap=True)
    table.add_column("text", no_wrap=True, overflow="ellipsis", max_width=TEXT_PREVIEW)
    for d in found:  # Text, not markup: a stored source or text of `[/bold]` is shown, not parsed
        labels = (getattr(d, task).label for task in task_names())
        cells = (f"{d.published_at:%Y-%m-%d %H:%M:%S}", d.id, d.kind, d.source, d.detected_lang, *labels, d.text)
        table.add_row(*(Text(str(cell)) for cell in cells))
    print_table(table, whole=("id",))  # a file or a pipe gets whole rows, not 80 columns
    err.print(
        f"{len(found)} document(s)"
        + (f" (limit {query.limit}: there may be more)" if len(found) == query.limit else "")
    )


@documents.command()
def migrate() -> None:
    """Rebuild the documents table in the current layout (a store made by an earlier version keeps
    working without it, but its dashboards read every row). Stop every worker first."""
    from bloomwatch.settings import get_settings
    from store.connect import connect
    from store.documents import DocumentStore
    from store.migration import migrate_documents

    settings = get_settings()
    try:
        store = DocumentStore(connect(settings.store))
    except Exception as error:  # noqa: BLE001 - chDB's own message does not say the directory is in use
        err.print(
            f"cannot open {settings.clickhouse_where} ({error}); a running worker owns an embedded store: stop it first"
        )
        raise typer.Exit(1) from None
    try:
        store.ensure_schema()  # an empty store gets the table, already in the current layout
        copied = migrate_documents(store.client)
    finally:
        store.close()
    typer.echo(
        "documents already has the current layout" if copied is None else f"documents rebuilt: {copied} documents"
    )


def _read(read):
    """Run a read; an unreachable worker or server is a one-line error, not a traceback."""
    import httpx

    from store.errors import StoreUnreachable

    try:
        return read()
    except (StoreUnreachable, httpx.HTTPError) as error:
        err.print(f"cannot read documents: {escape(str(error))}")
        raise typer.Exit(1) from None

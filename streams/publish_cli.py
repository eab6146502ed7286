"""Publishing commands: `bloomwatch publish`, `ingest`, `demo-stream`, `create-topics`.

Kept apart from the worker's commands in streams/cli.py; imports of aiokafka/aiohttp stay inside
the commands so `bloomwatch --help` stays fast.
"""

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

import typer

from bloomwatch.output import log_console

console = log_console()  # a report in a file or a pipe keeps each rejected row on one line
CHUNK = 1000  # records validated and sent per round trip
SHOWN_REJECTIONS = 20


class InputTopic(StrEnum):
    news = "news"
    reviews = "reviews"


class IdSource(StrEnum):
    text = "text"
    url = "url"


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(ingest)
    app.command("demo-stream")(demo_stream)
    app.command("create-topics")(create_topics)


def _bootstrap(bootstrap: str | None) -> str:
    from bloomwatch.settings import get_settings

    return bootstrap or get_settings().kafka_bootstrap


def _ensure_topics(bootstrap: str) -> dict[str, int]:
    """Every command's first contact with Kafka, so an unreachable broker is reported here, plainly;
    from here on an outage is summarised in the log (streams/outage_log.py), not one error a second."""
    from aiokafka.errors import KafkaConnectionError

    from bloomwatch.settings import get_settings
    from streams.kafka_security import KafkaSecurityError, client_options
    from streams.outage_log import summarise_kafka_outages
    from streams.topics import ensure_topics, topic_specs

    kafka = get_settings().kafka
    summarise_kafka_outages(bootstrap, kafka.kafka_outage_reminder_s)

    try:
        return asyncio.run(ensure_topics(bootstrap, topic_specs(kafka), **client_options(kafka)))
    except KafkaConnectionError:
        console.print(
            f"[red]cannot reach Kafka at {bootstrap}[/]: start it with `scripts/kafka.sh start` "
            "(or `bloomwatch up`), or set --bootstrap / BLOOMWATCH_KAFKA_BOOTSTRAP"
        )
        raise typer.Exit(2) from None
    except KafkaSecurityError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None


def publish(
    file: str = typer.Argument(..., help="JSONL or CSV file of documents; '-' reads stdin (JSONL unless --format csv)"),
    topic: InputTopic | None = typer.Option(
        None,
        help="send every row to this topic (a row without a kind gets the topic's) [default: each row's kind decides, as for POST /documents]",
    ),
    file_format: str = typer.Option("auto", "--format", help="jsonl | csv | auto (by the file's suffix)"),
    source: str | None = typer.Option(None, help="source for rows that have none (otherwise they are rejected)"),
    id_from: IdSource | None = typer.Option(
        None, help="for rows without an id: use a hash of this field (re-publishing then stores each text once)"
    ),
    rejects: Path | None = typer.Option(None, help="write every rejected row as JSONL here (line, id, reason)"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers [default: BLOOMWATCH_KAFKA_BOOTSTRAP]"),
) -> None:
    """Validate and publish documents to Kafka; report accepted and rejected rows by line.

    Fields: id (required unless --id-from), source, kind (news | review: the topic each row goes
    to; with --topic, defaults to that topic's and must match it), text, published_at (ISO 8601
    with time zone; defaults to now), lang, url, metadata (JSON object of strings; in CSV, every
    column that is not a field goes into metadata).
    Exit status 1 when any row was rejected, 2 when Kafka cannot be reached or stops taking
    records (within BLOOMWATCH_PUBLISH_TIMEOUT_S).
    """
    from bloomwatch.settings import get_settings
    from streams.records import apply_defaults
    from streams.topics import input_topic

    settings = get_settings()
    kafka = _bootstrap(bootstrap)
    kind = None if topic is None else "news" if topic is InputTopic.news else "review"
    topic_name = kind and input_topic(settings.kafka, kind)  # None: the publisher routes each row by its kind

    async def send(publisher, records):
        filled = [apply_defaults(r, kind=kind, source=source, id_from=id_from and id_from.value) for r in records]
        return await publisher.publish(filled, topic=topic_name)

    destination = (
        f"Kafka topic [cyan]{topic_name}[/]"
        if topic_name
        else f"Kafka topics [cyan]{settings.topic_news}[/], [cyan]{settings.topic_reviews}[/] by kind"
    )
    publish_file(file, file_format, send, destination=f"{destination} at {kafka}", kafka=kafka, rejects=rejects)


Send = Callable[[Any, list[dict]], Awaitable[Any]]  # (Publisher, records of one chunk) -> PublishResult


def publish_file(
    file: str,
    file_format: str,
    send: Send,
    *,
    destination: str,
    kafka: str,
    rejects: Path | None,
    csv_columns_are_fields: bool = False,
) -> None:
    """Read a JSONL/CSV file (or stdin) in chunks, `send` each chunk, report rejected rows by line.

    The one reading and reporting path of `bloomwatch publish` and `bloomwatch label`. CSV columns
    that are not Document fields go into `metadata`, unless `csv_columns_are_fields` (label files,
    whose schema rejects unknown fields by name). Exits with status 1 when any row was rejected,
    2 when Kafka stopped taking records (the rest of the file is not read).
    """
    from bloomwatch.settings import get_settings
    from streams.publisher import Publisher
    from streams.records import DOCUMENT_FIELDS, FileFormat, format_of, read_rows

    fmt: FileFormat
    match file_format:
        case "auto":
            fmt = format_of(file)
        case "jsonl" | "csv":
            fmt = file_format
        case _:
            raise typer.BadParameter(f"unknown format {file_format!r} (jsonl | csv | auto)", param_hint="--format")
    fields = None if csv_columns_are_fields else DOCUMENT_FIELDS

    async def run() -> tuple[int, list[tuple[int, str | None, str]], str | None]:
        """How many records Kafka accepted, every rejected row as (line, id, reason), and, when
        Kafka stopped taking records, why: then the rest of the file is not read (each further
        chunk would only wait out the publish timeout again)."""
        accepted, problems, unavailable = 0, [], None
        if file == "-":
            if isinstance(sys.stdin, io.TextIOWrapper):  # the console's (a replaced stdin is read as it is)
                sys.stdin.reconfigure(errors="surrogateescape")
            stream = sys.stdin
        else:
            stream = open(file, encoding="utf-8-sig", errors="surrogateescape", newline="" if fmt == "csv" else None)
        settings = get_settings()
        async with Publisher(kafka, settings.kafka, max_text_chars=settings.max_text_chars) as publisher:
            with stream:
                rows = read_rows(stream, fmt, fields)
                while chunk := list(islice(rows, CHUNK)):
                    problems += [(row.line, None, row.error) for row in chunk if row.error is not None]
                    readable = [row for row in chunk if row.error is None]
                    # a row has a record exactly when it has no error
                    result = await send(publisher, [row.record for row in readable if row.record is not None])
                    accepted += len(result.accepted)
                    problems += [
                        (readable[r.position].line, r.id, r.reason) for r in result.rejected if not r.retryable
                    ]
                    if refused := [r for r in result.rejected if r.retryable]:
                        unavailable = f"from line {readable[refused[0].position].line}: {refused[0].reason}"
                        break
        return accepted, sorted(problems, key=lambda problem: problem[0]), unavailable

    _ensure_topics(kafka)
    accepted, problems, unavailable = asyncio.run(run())
    if unavailable:
        console.print(
            f"[red]Kafka at {kafka} stopped taking records[/] ({unavailable}); stopped there, "
            f"{accepted} accepted before. Publish the file again once Kafka is back: ids make re-publishing safe.",
        )
    console.print(f"[bold]{accepted}[/] accepted, [bold]{len(problems)}[/] rejected -> {destination}")
    for line, record_id, reason in problems[:SHOWN_REJECTIONS]:
        console.print(f"  line {line}" + (f" (id {record_id})" if record_id else "") + f": {reason}", markup=False)
    if len(problems) > SHOWN_REJECTIONS:
        hint = "" if rejects else "; --rejects FILE lists all"
        console.print(f"  ... {len(problems) - SHOWN_REJECTIONS} more{hint}")
    if rejects:
        with rejects.open("w", encoding="utf-8") as out:
            for line, record_id, reason in problems:
                out.write(json.dumps({"line": line, "id": record_id, "reason": reason}) + "\n")
        console.print(f"rejected rows written to {rejects}")
    if unavailable:
        raise typer.Exit(2)
    if problems:
        raise typer.Exit(1)


def ingest(
    port: int | None = typer.Option(None, help="port [default: BLOOMWATCH_INGEST_PORT]"),
    host: str = typer.Option("127.0.0.1", help="bind address (0.0.0.0 to accept remote publishers)"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers [default: BLOOMWATCH_KAFKA_BOOTSTRAP]"),
) -> None:
    """Run the HTTP ingest server on its own: POST /documents with a JSON array of documents."""
    from aiohttp import web

    from bloomwatch.settings import get_settings
    from streams.ingest import ingest_app
    from streams.publisher import Publisher

    settings = get_settings()
    kafka = _bootstrap(bootstrap)
    port = port or settings.ingest_port
    _ensure_topics(kafka)

    async def serve() -> web.Application:
        publisher = Publisher(kafka, settings.kafka, max_text_chars=settings.max_text_chars)
        await publisher.start()
        app = ingest_app(publisher, settings.access)
        app.on_cleanup.append(lambda _: publisher.stop())
        return app

    console.print(f"ingest: POST http://{host}:{port}/documents -> Kafka {kafka}")
    web.run_app(serve(), host=host, port=port, print=None)


def demo_stream(
    rate: float = typer.Option(20.0, help="documents per second"),
    limit: int | None = typer.Option(None, help="stop after this many documents [default: run until Ctrl-C]"),
    burst_at_min: float = typer.Option(
        2.0, help="minute of the stream when the negative-review burst starts (the Chinese one: 3 minutes later)"
    ),
    burst_minutes: float = typer.Option(2.0, help="how long each burst lasts (0: no burst)"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers [default: BLOOMWATCH_KAFKA_BOOTSTRAP]"),
) -> None:
    """Publish the demo news and reviews stream (shared datasets if present, else synthetic)."""
    import logging
    from dataclasses import replace

    from bloomwatch.settings import get_settings
    from streams.demo import DEMO_BURSTS, run_demo_stream
    from streams.publisher import Publisher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    kafka = _bootstrap(bootstrap)
    shift = burst_at_min - DEMO_BURSTS[0].start_min
    bursts = tuple(
        replace(burst, start_min=burst.start_min + shift, minutes=burst_minutes)
        for burst in (DEMO_BURSTS if burst_minutes > 0 else ())
    )
    _ensure_topics(kafka)

    async def run() -> int:
        async with Publisher(kafka, settings.kafka, max_text_chars=settings.max_text_chars) as publisher:
            return await run_demo_stream(publisher, rate_per_s=rate, limit=limit, bursts=bursts, settings=settings)

    console.print(f"demo stream -> Kafka {kafka} at {rate:g} docs/s (Ctrl-C stops)")
    try:
        accepted = asyncio.run(run())
    except KeyboardInterrupt:
        console.print("demo stream stopped")
        return
    console.print(f"demo stream: {accepted} documents published")


def create_topics(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers [default: BLOOMWATCH_KAFKA_BOOTSTRAP]"),
) -> None:
    """Create BloomWatch's topics with their configured partition counts (existing ones are kept)."""
    kafka = _bootstrap(bootstrap)
    for name, partitions in _ensure_topics(kafka).items():
        console.print(f"{name}: {partitions} partitions")

"""Reading documents from JSONL or CSV files for `bloomwatch publish`, keeping each row's line number.

A row that cannot even be read (bad JSON, a 5,000-digit integer, nesting past the recursion limit,
invalid UTF-8, ragged CSV, a CSV field over the csv module's 131,072-character limit) becomes a row
with an error, so the publisher reports it by line and goes on with the rest of the file.
"""

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from bloomwatch.json_input import NotJSON, parse_json
from bloomwatch.schemas import Document

FileFormat = Literal["jsonl", "csv"]
ID_SOURCES = ("text", "url")  # fields `--id-from` may hash into an id
DOCUMENT_FIELDS = frozenset(Document.model_fields)
_EXTRA_CELLS = "\0extra"  # DictReader key for cells beyond the header


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line where the row starts
    record: dict[str, Any] | None
    error: str | None = None


def format_of(path: str) -> FileFormat:
    return "csv" if Path(path).suffix.lower() in {".csv", ".tsv"} else "jsonl"


def _is_valid_utf8(text: str) -> bool:
    """Input is decoded with `surrogateescape`, so undecodable bytes show up as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_jsonl(stream: TextIO) -> Iterator[Row]:
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if not _is_valid_utf8(line):
            yield Row(line_number, None, "line is not valid UTF-8")
            continue
        try:
            record = parse_json(line)
        except NotJSON as error:
            yield Row(line_number, None, f"not valid JSON: {error}")
            continue
        if not isinstance(record, dict):
            yield Row(line_number, None, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield Row(line_number, record)


def read_csv(stream: TextIO, fields: frozenset[str] | None = DOCUMENT_FIELDS) -> Iterator[Row]:
    """Columns named like Document fields fill them; any other column goes into `metadata`
    (`fields=None`: every column is a field, as for label files, whose schema rejects unknown ones).

    Empty cells count as absent, so optional fields can be left blank.
    """
    reader = csv.DictReader(stream, restkey=_EXTRA_CELLS)
    line_number = 2  # the header is line 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The reader drops the rest of the line it failed on, which it has not counted yet:
            # the next row starts on the line after it.
            yield Row(line_number, None, f"unreadable CSV: {error}")
            line_number = reader.line_num + 2
            continue
        start, line_number = line_number, reader.line_num + 1
        if _EXTRA_CELLS in row:
            header_width = len(reader.fieldnames or ())  # None only before a first row is read
            width = header_width + len(row[_EXTRA_CELLS])
            yield Row(start, None, f"row has {width} fields; the header has {header_width}")
            continue
        if not all(_is_valid_utf8(value) for value in row.values() if value):
            yield Row(start, None, "row is not valid UTF-8")
            continue
        record: dict[str, Any] = {}
        metadata: dict[str, str] = {}
        for column, value in row.items():
            if value is None or value == "":
                continue
            (record if fields is None or column in fields else metadata)[column] = value
        if metadata:
            record["metadata"] = metadata
        yield Row(start, record)


def read_rows(
    stream: TextIO, file_format: FileFormat, fields: frozenset[str] | None = DOCUMENT_FIELDS
) -> Iterator[Row]:
    return read_csv(stream, fields) if file_format == "csv" else read_jsonl(stream)


def hashed_id(value: str) -> str:
    """A stable id from content, so re-publishing the same file stores each document once."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def apply_defaults(
    record: dict[str, Any], *, kind: str | None, source: str | None = None, id_from: str | None = None
) -> dict[str, Any]:
    """Fill only what the user asked for on the command line (`kind`: the one of the topic given,
    None without one: each row's own kind routes it); never invent an id silently."""
    filled = dict(record)
    if kind is not None:
        filled.setdefault("kind", kind)
    if source is not None:
        filled.setdefault("source", source)
    if id_from is not None and not filled.get("id") and isinstance(filled.get(id_from), str):
        filled["id"] = hashed_id(filled[id_from])
    return filled

"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

Documents, sources and ids come from publishers; a cell such as `=HYPERLINK(...)` or
`=cmd|' /C calc'!A0` in an export runs when an analyst opens the file in Excel or LibreOffice.
Every text cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`,
which spreadsheets read as "text follows". A cell that already starts with `'` gets one too, so
the mapping is reversible: `restore_cell` gives back exactly what was written, which the labelling
round trip needs (`label queue --out x.csv` -> annotator -> `bloomwatch label x.csv`: ids must come
back unchanged). Numbers and dates are not text cells and stay as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_ESCAPED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_ESCAPED_STARTS):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """The value `safe_cell` was given (any other value unchanged)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_ESCAPED_STARTS):
        return value[1:]
    return value


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Iterable[Any]]) -> None:
    """A header and rows, every cell made safe (the header is ours)."""
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)

"""Command output that survives a file or a pipe: tables whose ids are never cut, text never
wrapped at 80 columns.

Rich fits everything to the terminal, and off a terminal it assumes 80 columns: a table piped to
`grep` or a file had every cell cut (`1446…`), so an alert id could not be copied into `alerts
show ID`, and `bloomwatch up > up.log` split its dashboard URLs over two lines. Off a terminal a
table here is as wide as its rows; on one, the columns named as ids keep their full width and
the others give way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bloomwatch.progress import on_terminal

UNBOUNDED = 100_000  # columns: wider than any row, so rich never cuts or wraps a cell


def print_table(table: Table, *, whole: Iterable[str] = ()) -> None:
    """`table` on stdout; the columns headed by a name in `whole` (ids) are never cut or wrapped."""
    keep = set(whole)
    for column in table.columns:
        if column.header in keep:
            column.no_wrap = True
            column.min_width = max(
                (cell_len(c.plain if isinstance(c, Text) else str(c)) for c in column.cells), default=0
            )
    Console(width=None if on_terminal(sys.stdout) else UNBOUNDED).print(table)


def log_console() -> Console:
    """A console on stderr for progress and messages: off a terminal (`up > up.log 2>&1`) each
    message is one line, however long, so a URL is never split; on a terminal, as usual."""
    return Console(stderr=True, soft_wrap=not on_terminal())

"""Progress for long jobs: a live bar on a terminal, plain timestamped lines everywhere else.

A tqdm bar redraws itself with carriage returns (and, from some libraries, colour codes); written
into a log file it becomes one line of tens of thousands of characters that no pager or grep can
use. Every progress display in BloomWatch goes through `progress_bar`, which draws tqdm's bar only
when its stream is a terminal and otherwise logs a line like
`2026-11-28 23:40:02 fine-tuning (full): 120/400 step (30%), 3.1 step/s, eta 01:30, loss=0.812`
(without a total, `demo: documents stored: 465 doc, 19.8 doc/s`: no ETA) at the start, every
`every_s` seconds or 10 % (whichever comes first) and at the end.
`quiet_library_progress` does the same for the bars transformers and huggingface_hub draw.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from tqdm import tqdm
from tqdm.auto import tqdm as terminal_tqdm

_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit}{percent}, {rate_fmt}, eta {remaining}{postfix}"
_OPEN_ENDED_FORMAT = "{desc}: {n_fmt} {unit}, {rate_fmt}{postfix}"  # no total: no `/?`, no ETA to guess


def on_terminal(stream: IO | None = None) -> bool:
    """True when `stream` (default stderr) is an interactive terminal, not a file or a pipe."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", None) and stream.isatty())


class LoggedProgress(tqdm):
    """tqdm's bookkeeping (count, rate, ETA, postfix) written as one plain line now and then."""

    def __init__(self, *args: Any, every_s: float = 10.0, **kwargs: Any):
        self._every_s = every_s
        self._last_logged_at: float | None = None
        self._last_decile = -1
        # mininterval=0: tqdm asks `display` after every update and `display` decides, so no
        # tenth is skipped however fast the steps are (the check is a comparison or two).
        super().__init__(*args, ascii=True, mininterval=0, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> None:
        if msg == "":  # tqdm clearing its line: nothing was drawn, nothing to clear
            return
        now = time.monotonic()
        decile = int(10 * self.n / self.total) if self.total else -1
        if (
            self._last_logged_at is not None
            and now - self._last_logged_at < self._every_s
            and decile <= self._last_decile
        ):
            return
        self._last_logged_at, self._last_decile = now, decile
        self._log(self._line())

    def _line(self) -> str:
        """The current state as one line, without a bar."""
        values = self.format_dict
        if self.total:
            line_format = _LINE_FORMAT.replace("{percent}", f" ({100 * self.n / self.total:.0f}%)")
        else:
            line_format = _OPEN_ENDED_FORMAT
        return self.format_meter(**{**values, "bar_format": line_format, "ncols": None})

    def close(self) -> None:
        if not self.disable and self._last_decile < 10:
            self._last_logged_at = None  # the final state is always logged
            self.display()
        self.leave = False  # tqdm would otherwise end its (never drawn) bar with an empty line
        super().close()

    @classmethod
    def write(cls, s: str, file: IO | None = None, end: str = "\n", nolock: bool = False) -> None:
        """A message between progress lines, timestamped like them."""
        stream = sys.stderr if file is None else file  # tqdm's own write would clear a bar with \r first
        stream.write(f"{_timestamp()} {s}{end}")
        stream.flush()

    def _log(self, line: str) -> None:
        self.fp.write(f"{_timestamp()} {line}\n")
        self.fp.flush()


def _timestamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def progress_bar(
    iterable: Iterable | None = None,
    *,
    desc: str,
    total: float | None = None,
    unit: str = "it",
    disable: bool = False,
    leave: bool = True,
    file: IO | None = None,
    every_s: float = 10.0,
) -> tqdm:
    """A tqdm bar on a terminal, a `LoggedProgress` (plain timestamped lines) anywhere else."""
    stream = sys.stderr if file is None else file
    if on_terminal(stream):
        return terminal_tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=leave, file=stream)
    return LoggedProgress(iterable, desc=desc, total=total, unit=unit, disable=disable, file=stream, every_s=every_s)


def quiet_library_progress() -> None:
    """Off a terminal, switch off the bars transformers and huggingface_hub draw ("Loading weights",
    "Writing model shards"); both read this variable when imported, so call it before importing them."""
    if not on_terminal():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

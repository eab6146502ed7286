"""Progress for long jobs: a tqdm bar on a terminal, plain timestamped lines in a log file.

A tqdm bar redrawn into a file becomes one line of tens of thousands of characters full of
carriage returns; when stderr is not a terminal we print one readable line every
`every_s` seconds instead (and at the end).
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class Progress:
    def __init__(self, *, total: int, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True, every_s: float = 30.0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.enabled, self.every_s = enabled, every_s
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit) if enabled and sys.stderr.isatty() else None
        self._started = self._last = time.monotonic()
        self._initial = initial
        self._postfix: dict[str, str] = {}

    def update(self, n: int = 1, **postfix: str) -> None:
        self.n += n
        self._postfix = {k: str(v) for k, v in postfix.items()}
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
        elif self.enabled and time.monotonic() - self._last >= self.every_s:
            self._line()

    def _line(self) -> None:
        self._last = time.monotonic()
        rate = (self.n - self._initial) / max(self._last - self._started, 1e-9)
        extra = " ".join(f"{k}={v}" for k, v in self._postfix.items())
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f}%, {rate:.2f} {self.unit}/s) {extra}".rstrip(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self._line()

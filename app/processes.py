"""Child processes of `bloomwatch up` (and of the pipeline tests and bench): start, wait until
ready, stop gracefully, kill.

Each child gets its own process group and log file, so Ctrl-C in the terminal reaches only
`bloomwatch up`, which then stops the children in order (demo, worker, classifiers, broker)
instead of all of them dying at once mid-batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx


def bloomwatch_command(*args: str) -> list[str]:
    """`bloomwatch ARGS` through the current interpreter, whether or not the entry point is on PATH."""
    return [sys.executable, "-c", "from app.cli import app; app()", *args]


def http_ok(url: str, timeout_s: float = 2.0, headers: Mapping[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, timeout=timeout_s, headers=headers).status_code == 200
    except httpx.HTTPError:
        return False


class ManagedProcess:
    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll `ready` until it holds; fail early, with the log's tail, if the process died."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if not self.alive():
                raise RuntimeError(f"{self.name} exited during start-up; log {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name} not ready after {timeout_s:.0f}s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (the child finishes its batch and commits), SIGKILL after `timeout_s`."""
        process = self.process
        if process is None or not self.alive():
            return process.returncode if process else None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return process.returncode

    def kill(self) -> None:
        """SIGKILL, no clean-up: what the crash tests do to the worker and the classifier."""
        if self.process is not None and self.alive():
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

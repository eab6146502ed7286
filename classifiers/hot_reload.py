"""Watch a task line's registry pointer and hand each newly promoted version to a swap function.

Polling `current_version_name` (one small file read) is cheap, needs no inotify and works on any
filesystem the registry may live on. The swap runs on this watcher's thread, so a slow model load
never blocks requests: servers keep answering with the old version until the swap completes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bloomwatch.errors import ExpectedError
from training.registry import MAIN_LINE, ModelVersion, Registry

log = logging.getLogger(__name__)


class NoServableModel(ExpectedError, RuntimeError):
    pass


def require_current(registry: Registry, task: str, line: str = MAIN_LINE) -> ModelVersion:
    current = registry.current(task, line)
    if current is None:
        raise NoServableModel(
            f"no current {task} model in {registry.root}; train one with `bloomwatch train --task {task}`"
        )
    return current


class PointerWatcher:
    def __init__(
        self,
        registry: Registry,
        task: str,
        serving: str,
        swap: Callable[[ModelVersion], None],
        *,
        poll_s: float,
        on_result: Callable[[str], None] = lambda outcome: None,
        line: str = MAIN_LINE,
    ):
        """`serving` is the version already served; `swap` must raise if the new one cannot be served."""
        self.registry = registry
        self.task = task
        self.line = line
        self.swap = swap
        self.poll_s = poll_s
        self.on_result = on_result
        self._seen = serving
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"reload-{task}{'.' + line if line else ''}", daemon=True
        )

    def start(self) -> PointerWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                version = self.registry.current_version_name(self.task, self.line)
            except OSError as exc:
                log.warning("cannot read the %s pointer in %s: %s", self.task, self.registry.root, exc)
                continue
            if version is None or version == self._seen:
                continue
            # Versions are immutable, so a version that failed to load is not retried.
            self._seen = version
            try:
                model = self.registry.get(self.task, version)
                log.info("registry promoted %s; swapping it in", model.name)
                self.swap(model)
            except Exception:
                log.exception("could not serve %s/%s; still serving the previous version", self.task, version)
                self.on_result("failed")
            else:
                log.info("now serving %s", model.name)
                self.on_result("ok")

"""Keeps one vLLM process serving a task line's current registry model: start, swap, restart.

Switching versions is blue/green behind BloomWatch's proxy (classifiers/vllm_proxy.py): the new
version starts on a fresh internal port while the old one keeps answering; only once the new one
is healthy does the proxy's target change; the old one then finishes its in-flight requests and
is stopped. A proxy (rather than clients switching URLs) keeps one stable URL per task for every
caller and lets BloomWatch apply its own request limits in front of vLLM. A vLLM process that
dies is restarted on the same version.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from classifiers.hot_reload import PointerWatcher, require_current
from classifiers.metrics import ServingMetrics
from classifiers.precision import vllm_dtype
from classifiers.vllm_process import VllmProcess
from training.registry import MAIN_LINE, ModelVersion, Registry

log = logging.getLogger(__name__)


class VllmSupervisor:
    def __init__(
        self,
        registry: Registry,
        task: str,
        *,
        home: Path,
        max_model_len: int,
        kv_cache_gib: int,
        start_timeout_s: float,
        reload_poll_s: float,
        threads_bind: str,
        threads: int,
        precision: str,
        metrics: ServingMetrics,
        drain_timeout_s: float = 120.0,
        line: str = MAIN_LINE,
    ):
        self.registry = registry
        self.task = task
        self.line = line
        self.home = home
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.start_timeout_s = start_timeout_s
        self.reload_poll_s = reload_poll_s
        self.threads_bind = threads_bind
        self.threads = threads
        self.precision = precision  # a serve_precision setting, resolved per version at launch
        self.metrics = metrics
        self.drain_timeout_s = drain_timeout_s
        self.current: VllmProcess | None = None
        self._lock = threading.Lock()  # one start/swap/restart at a time
        self._running: set[VllmProcess] = set()  # every process started and not yet stopped
        self._stopping = threading.Event()
        self._watcher: PointerWatcher | None = None
        self._monitor = threading.Thread(
            target=self._restart_crashed, name=f"vllm-monitor-{task}{'.' + line if line else ''}", daemon=True
        )

    @property
    def upstream(self) -> VllmProcess:
        """The process the proxy forwards to: one exists from `start` on."""
        if self.current is None:
            raise RuntimeError(f"vLLM for {self.task} is not started")
        return self.current

    def start(self) -> None:
        version = require_current(self.registry, self.task, self.line)
        self.current = self._launch(version)
        self.metrics.serving(version.name, self.line)
        self._watcher = PointerWatcher(
            self.registry,
            self.task,
            version.version,
            self.swap,
            poll_s=self.reload_poll_s,
            on_result=lambda outcome: self.metrics.reloads.labels(outcome=outcome).inc(),
            line=self.line,
        ).start()
        self._monitor.start()

    def _launch(self, version: ModelVersion) -> VllmProcess:
        if self._stopping.is_set():
            raise RuntimeError("supervisor is stopping")
        process = VllmProcess(
            version,
            home=self.home,
            max_model_len=self.max_model_len,
            kv_cache_gib=self.kv_cache_gib,
            threads_bind=self.threads_bind,
            threads=self.threads,
            dtype=vllm_dtype(version, self.precision),
        ).start()
        self._running.add(process)
        log.info(
            "starting vLLM (%s) for %s on %s (log: %s)", process.dtype, version.name, process.base_url, process.log_path
        )
        try:
            process.wait_healthy(self.start_timeout_s)
        except BaseException:
            self._stop_process(process)
            raise
        log.info("vLLM for %s is healthy on %s", version.name, process.base_url)
        return process

    def swap(self, version: ModelVersion) -> None:
        with self._lock:
            new = self._launch(version)
            old, self.current = self.current, new
            self.metrics.serving(version.name, self.line)
        if old is not None:
            self._retire(old)

    def _retire(self, process: VllmProcess) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while process.inflight > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop_process(process)
        log.info("stopped vLLM for %s", process.name)

    def _stop_process(self, process: VllmProcess) -> None:
        process.stop()
        self._running.discard(process)

    def _restart_crashed(self) -> None:
        while not self._stopping.wait(2.0):
            with self._lock:
                process = self.current
                if process is None or process.alive() or self._stopping.is_set():
                    continue
                log.error("vLLM for %s exited; restarting it. Last log lines:\n%s", process.name, process.log_tail())
                self._stop_process(process)  # reaps it and anything left in its process group
                try:
                    self.current = self._launch(process.version)
                except Exception:
                    log.exception("restarting vLLM for %s failed; will retry", process.name)

    def stop(self) -> None:
        """Stops every vLLM process, including one still starting (no waiting for a swap)."""
        self._stopping.set()
        for process in list(self._running):
            self._stop_process(process)
        if self._watcher is not None:
            self._watcher.stop()

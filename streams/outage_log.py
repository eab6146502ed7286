"""A broker outage in a few log lines instead of thousands.

While Kafka is unreachable, aiokafka (under faust, and under our Publisher) logs every failed
connect, metadata refresh, fetch and heartbeat at ERROR, several times a second: about 2,000 lines
in 27 s for one worker. `KafkaOutageLog` is a logging filter that recognises those records and turns
them into what an operator needs: one line when the outage starts (with the first error), a
reminder every `reminder_s` while it lasts (with how many errors were folded in and the latest),
and one line with its duration when it ends. Anything else passes untouched.

The end is not guessed from silence alone (an idle producer stops logging while the broker is
still down): the outage ends once a TCP connection to a bootstrap server succeeds and no error has
been seen for `QUIET_S`. A daemon thread, alive only during an outage, checks that and writes the
reminders, so they appear even when the client has stopped logging.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

log = logging.getLogger(__name__)

# Loggers whose connection errors are outage symptoms, and what those errors say.
KAFKA_LOGGERS = ("aiokafka", "faust", "mode")
SYMPTOM = re.compile(
    r"Unable connect to node|Unable to (update|request) metadata|NodeNotReady|KafkaConnectionError"
    r"|Connect call failed|Connection at \S+ closed|coordinator dead|Heartbeat failed"
    r"|Coordinator Request failed|Failed fetch messages|KafkaTimeoutError|RequestTimedOut"
)
QUIET_S = 3.0  # no symptom for this long (and the broker accepts connections): the outage is over
CHECK_S = 0.5  # how often the outage thread checks


def is_symptom(record: logging.LogRecord) -> bool:
    if record.levelno < logging.WARNING or not record.name.startswith(KAFKA_LOGGERS):
        return False
    return bool(SYMPTOM.search(record.getMessage()))


class KafkaOutageLog(logging.Filter):
    """Attach to every handler that should see outages summarised (see `summarise_kafka_outages`).

    One instance may sit on several handlers: its verdict is stored on the record, so a record
    is counted once however many handlers see it.
    """

    def __init__(self, bootstrap: str, reminder_s: float = 60.0):
        super().__init__()
        self.servers = [
            (host, int(port)) for host, _, port in (s.strip().rpartition(":") for s in bootstrap.split(","))
        ]
        self.reminder_s = reminder_s
        self._lock = threading.Lock()
        self._started: float | None = None  # monotonic time of the first symptom of the outage
        self._last_symptom = 0.0
        self._folded = 0  # symptoms of this outage suppressed so far
        self._latest = ""

    @property
    def in_outage(self) -> bool:
        return self._started is not None

    def filter(self, record: logging.LogRecord) -> bool:
        verdict = getattr(record, "kafka_outage_verdict", None)
        if verdict is None:
            verdict = self._judge(record)
            record.kafka_outage_verdict = verdict
        return verdict

    def _judge(self, record: logging.LogRecord) -> bool:
        if not is_symptom(record):
            return True
        now = time.monotonic()
        with self._lock:
            self._last_symptom = now
            self._latest = record.getMessage()
            if self._started is not None:
                self._folded += 1
                return False
            self._started, self._folded = now, 0
        threading.Thread(target=self._watch, args=(now,), name="kafka-outage-log", daemon=True).start()
        # This record becomes the outage's first line.
        record.msg = "Kafka unreachable: %s (further connection errors are summarised: a reminder every %gs)"
        record.args = (self._latest, self.reminder_s)
        record.levelno, record.levelname = logging.ERROR, "ERROR"
        return True

    def _watch(self, started: float) -> None:
        """The outage that started at `started` (monotonic), until it is over: only this thread ends it."""
        next_reminder = time.monotonic() + self.reminder_s
        while True:
            time.sleep(CHECK_S)
            now = time.monotonic()
            with self._lock:
                last, folded, latest = self._last_symptom, self._folded, self._latest
            if now - last >= QUIET_S and self._reachable():
                with self._lock:
                    self._started = None
                log.warning(
                    "Kafka reachable again after a %.0fs outage (%d connection errors summarised)",
                    last - started,
                    folded,
                )
                return
            if now >= next_reminder:
                log.error(
                    "Kafka still unreachable after %.0fs (%d connection errors summarised; latest: %s)",
                    now - started,
                    folded,
                    latest,
                )
                next_reminder = now + self.reminder_s

    def _reachable(self) -> bool:
        for address in self.servers:
            try:
                socket.create_connection(address, timeout=1.0).close()
                return True
            except OSError:
                continue
        return False


def summarise_kafka_outages(bootstrap: str, reminder_s: float) -> None:
    """Put one `KafkaOutageLog` on every root handler that has none yet (configuring plain WARNING
    logging to stderr first if the process has no handler, as the CLI commands do not)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    outage_log = KafkaOutageLog(bootstrap, reminder_s)
    for handler in root.handlers:
        if not any(isinstance(existing, KafkaOutageLog) for existing in handler.filters):
            handler.addFilter(outage_log)

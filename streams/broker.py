"""Python handle on the local Kafka broker that scripts/kafka.sh runs.

The script stays the single definition of how the broker is fetched, configured, started and
stopped (the demo, the tests and CI all use it); this class only drives it from Python so that
`bloomwatch up` and the pytest fixture get a broker they stop reliably.
"""

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from bloomwatch.net import free_port, port_taken
from bloomwatch.settings import Settings

KAFKA_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kafka.sh"


class KafkaBroker:
    """A single-node KRaft broker on 127.0.0.1:`port` with its data and log under `home`.

    `controller_port` defaults to a free port, not port + 1, so a test broker never lands on a
    port another process took in the meantime. `security`: the script's SASL variables
    (BLOOMWATCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT, _SASL_USERNAME, _SASL_PASSWORD), passed in
    its environment only, never on a command line.
    """

    def __init__(
        self,
        home: Path,
        port: int,
        controller_port: int | None = None,
        start_timeout_s: float = 120,
        security: Mapping[str, str] | None = None,
    ):
        self.home = Path(home).resolve()
        self.port = port
        self.controller_port = controller_port or free_port()
        self.start_timeout_s = start_timeout_s
        self.env = {**os.environ, **(security or {})}

    @classmethod
    def from_settings(cls, settings: Settings) -> "KafkaBroker":
        """The deployment's broker: data in <home>/kafka, port taken from `kafka_bootstrap`, SASL
        (SCRAM) when the settings ask for it; the controller on BLOOMWATCH_KAFKA_CONTROLLER_PORT,
        by default the client port + 1."""
        from streams.kafka_security import sasl_password

        port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
        security: dict[str, str] = {"BLOOMWATCH_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol}
        if settings.kafka_security_protocol == "SASL_PLAINTEXT":
            security |= {
                "BLOOMWATCH_KAFKA_SASL_USERNAME": settings.kafka_sasl_username or "",
                "BLOOMWATCH_KAFKA_SASL_PASSWORD": sasl_password(settings.kafka),
            }
        controller_port = settings.kafka_controller_port or port + 1
        return cls(settings.home / "kafka", port, controller_port=controller_port, security=security)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def _script(self, command: str, *options: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(KAFKA_SCRIPT), command, "--dir", str(self.home), *options],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )

    def start(self) -> str:
        """Start (fetching jars and formatting on first use) and return once clients can connect.

        The script's progress lines (what the first use downloads, where the broker runs) are
        passed on to stderr as they come, so a 30-second first fetch does not look like a hang.
        A port another process holds is reported before the JVM starts, naming the setting that
        moves it, instead of as a bind error deep in the broker's log.
        """
        if not self.is_running():
            for name, port, setting in (("client", self.port, "BLOOMWATCH_KAFKA_BOOTSTRAP"),
                                        ("controller", self.controller_port, "BLOOMWATCH_KAFKA_CONTROLLER_PORT")):  # fmt: skip
                if port_taken(port):
                    raise RuntimeError(
                        f"Kafka's {name} port 127.0.0.1:{port} is taken by another process; choose a free one with {setting}"
                    )
        command = [str(KAFKA_SCRIPT), "start", "--dir", str(self.home), "--port", str(self.port),
                   "--controller-port", str(self.controller_port), "--timeout", str(int(self.start_timeout_s))]  # fmt: skip
        tail: deque[str] = deque(maxlen=40)
        with subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env
        ) as script:
            assert script.stderr is not None  # stderr=PIPE
            for line in script.stderr:
                tail.append(line)
                sys.stderr.write(line)
            returncode = script.wait(timeout=self.start_timeout_s + 300)  # first use also downloads the jars
        if returncode != 0:
            raise RuntimeError(f"Kafka broker did not start (log: {self.log_path}):\n{''.join(tail)}")
        return self.bootstrap

    def stop(self, timeout_s: float = 60) -> None:
        """Controlled shutdown; the script escalates to SIGKILL after `timeout_s`."""
        result = self._script("stop", "--timeout", str(int(timeout_s)), timeout=timeout_s + 30)
        if result.returncode != 0:
            raise RuntimeError(f"Kafka broker did not stop:\n{result.stderr[-4000:]}")

    def kill(self) -> None:
        """SIGKILL, no clean shutdown: what the fault suite does to a broker (tests/fault_scenarios.py)."""
        pid = int((self.home / "broker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        while self.is_running():
            time.sleep(0.1)

    def is_running(self) -> bool:
        return self._script("status", timeout=30).returncode == 0

    def __enter__(self) -> "KafkaBroker":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

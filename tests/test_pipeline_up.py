"""`bloomwatch up`, the README's main command, as a user runs it: its own Kafka, classifier servers,
worker and demo stream; documents end up in ClickHouse; a stop leaves nothing running."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipeline_support import wait_until
from test_progress_logs import assert_plain_log
from bloomwatch.net import free_port
from streams.broker import KafkaBroker
from streams.processes import bloomwatch_command

pytestmark = pytest.mark.kafka


@pytest.fixture
def up_env(tiny_registry, tmp_path):
    """A fresh home on free ports; the registry already holds models, so `up` does not train.
    HOME is an empty directory: nothing may write outside the project and BLOOMWATCH_HOME."""
    kafka_port = free_port()
    (tmp_path / "user-home").mkdir()
    env = {
        "HOME": str(tmp_path / "user-home"),
        "BLOOMWATCH_HOME": str(tmp_path / "home"),
        "BLOOMWATCH_REGISTRY_DIR": str(tiny_registry.root),
        "BLOOMWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "BLOOMWATCH_SENTIMENT_URL": f"http://127.0.0.1:{free_port()}",
        "BLOOMWATCH_TOPIC_URL": f"http://127.0.0.1:{free_port()}",
        "BLOOMWATCH_WORKER_PORT": str(free_port()),
        "BLOOMWATCH_WORKER_SESSION_TIMEOUT_S": "6",
        "OMP_NUM_THREADS": "1",
    }
    return env


def _run(env: dict, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        bloomwatch_command("up", *args),
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _stored(env: dict) -> int:
    script = "import sys; from streams.store import DocumentStore; print(DocumentStore(sys.argv[1]).count())"
    dsn = f"chdb://{env['BLOOMWATCH_HOME']}/chdb"
    out = subprocess.run([sys.executable, "-c", script, dsn], capture_output=True, text=True, check=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1])


def _broker_stopped(env: dict) -> bool:
    port = int(env["BLOOMWATCH_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    return not KafkaBroker(Path(env["BLOOMWATCH_HOME"]) / "kafka", port).is_running()


def test_up_with_a_limit_stores_the_demo_documents_and_stops_everything(up_env):
    process = _run(up_env, "--limit", "150", "--rate", "100")
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    assert "/api/documents/count" in output and "model registry" in output
    assert "150 documents published and stored" in output, output[-2000:]
    assert _broker_stopped(up_env)
    assert _stored(up_env) == 150
    _assert_clean_logs(Path(up_env["BLOOMWATCH_HOME"]), output)
    assert not list(Path(up_env["HOME"]).iterdir()), "state written outside BLOOMWATCH_HOME"


def _assert_clean_logs(home: Path, output: str) -> None:
    """Every log a clean run leaves (ours, the worker's, the classifiers', Kafka's) and the output
    itself, written to a pipe: readable lines, no escape codes or redrawn bars, no ERROR, no traceback."""
    paths = [*home.glob("logs/*.log"), *home.glob("kafka/*.log")]  # kafka/data/**/*.log are Kafka's segments
    logs = {path: path.read_text(errors="replace") for path in paths}
    assert {"worker.log", "classifier-sentiment.log", "classifier-topic.log", "server.log"} <= {p.name for p in logs}
    for path, text in {**logs, Path("<output of up>"): output}.items():
        assert_plain_log(text)
        for line in text.splitlines():
            assert "ERROR" not in line and "Traceback" not in line, f"{path}: {line}"


@pytest.mark.slow
def test_up_stops_cleanly_on_sigterm(up_env):
    process = _run(up_env)
    api = f"http://127.0.0.1:{up_env['BLOOMWATCH_WORKER_PORT']}/api/documents/count"

    def stored_some() -> bool:
        assert process.poll() is None, process.stdout.read()[-4000:]
        try:
            return httpx.get(api, timeout=2).json()["count"] > 0
        except httpx.HTTPError:
            return False

    try:
        wait_until(stored_some, 300, "the first demo documents stored", every_s=1)
    except BaseException:
        process.kill()
        raise
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output[-4000:]
    assert "stopped" in output
    assert _broker_stopped(up_env)
    with pytest.raises(httpx.HTTPError):
        httpx.get(api, timeout=2)
    assert _stored(up_env) > 0

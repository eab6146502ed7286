"""Expected errors of any command are one line on stderr and exit status 1, never a traceback
(issue 27, item 1): the real `bloomwatch` executable on an empty home, each case its own process."""

import os
import subprocess
import time

import pytest

from app.processes import bloomwatch_command

CASES = {
    # command: the one line it must print
    (
        "models",
        "rollback",
        "sentiment",
    ): "error: no earlier promotion of sentiment recorded in {home}/models to roll back to",
    ("models", "promote", "sentiment", "v7"): "error: no model sentiment/v7 in registry {home}/models",
    ("models", "show", "sentiment"): "error: no current sentiment model in {home}/models",
    ("models", "show", "sentimnt", "v1"): "error: unknown task 'sentimnt'; known tasks: sentiment, topic",
    (
        "worker",
    ): "worker: cannot reach Kafka at 127.0.0.1:{port}: start it with `scripts/kafka.sh start` (or `bloomwatch up`), or set BLOOMWATCH_KAFKA_BOOTSTRAP",
}


def _run(args: tuple[str, ...], home, port: int) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "BLOOMWATCH_HOME": str(home), "BLOOMWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    started = time.monotonic()
    done = subprocess.run(bloomwatch_command(*args), env=env, capture_output=True, text=True, timeout=180)
    return done, time.monotonic() - started


@pytest.mark.parametrize("args", list(CASES), ids=" ".join)
def test_an_expected_error_is_one_line_and_exit_1(args, tmp_path):
    from bloomwatch.net import free_port

    port = free_port()  # nothing listens there: Kafka is down
    done, _ = _run(args, tmp_path, port)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    ours = [
        line for line in done.stderr.splitlines() if not line.startswith("Unable connect to")
    ]  # aiokafka's own log line
    assert ours == [CASES[args].format(home=tmp_path, port=port)], done.stderr


def test_rollback_with_nothing_promoted_answers_before_the_slow_imports(tmp_path):
    done, took_s = _run(("models", "rollback", "sentiment"), tmp_path, 9)
    assert done.returncode == 1 and took_s < 10, (took_s, done.stderr)  # was a traceback after 13-30 s

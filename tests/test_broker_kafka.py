"""The repo's own Kafka broker: starts, serves real clients, creates topics, stops cleanly."""

import asyncio
import os
import re
import secrets
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_consume import unique_topics

from bloomwatch.net import free_port
from bloomwatch.settings import Settings
from streams.broker import KAFKA_SCRIPT, KafkaBroker
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.kafka


def test_broker_starts_serves_and_stops(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka", free_port())
    with broker:
        assert broker.is_running()

        async def roundtrip() -> bytes:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            await producer.start()
            try:
                await producer.send_and_wait("smoke", b"hello", key=b"k")
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer("smoke", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
            await consumer.start()
            try:
                message = await asyncio.wait_for(consumer.getone(), 30)
            finally:
                await consumer.stop()
            return message.value

        assert asyncio.run(roundtrip()) == b"hello"
        assert (tmp_path / "kafka" / "data" / "meta.properties").exists()  # formatted by StorageTool
    assert not broker.is_running()
    assert "shut down completely" in broker.log_path.read_text()  # a controlled shutdown, not a kill

    first_run = broker.log_path.read_text()
    with broker:  # a restart keeps the previous run's log (a crash's evidence) as server.log.1
        assert broker.log_path.read_text().count("Kafka Server started") == 1
    assert (tmp_path / "kafka" / "server.log.1").read_text() == first_run


def _command_lines_holding(secret: bytes, stop: threading.Event, seen: list[str]) -> None:
    """Until `stop`: every process whose command line holds `secret` (what `ps` shows any local user)."""
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if secret in cmdline.read_bytes():
                    seen.append(cmdline.parent.name)
            except OSError:  # the process ended meanwhile
                pass
        stop.wait(0.01)


def test_the_scram_password_never_appears_on_a_command_line(tmp_path):
    """The first SASL start creates the SCRAM user with the cluster (StorageTool format): its
    password goes to java in an argument file, not in argv; the user it created then authenticates."""
    password = f"scram-{secrets.token_hex(12)}"
    security = {"BLOOMWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "BLOOMWATCH_KAFKA_SASL_USERNAME": "bw",
                "BLOOMWATCH_KAFKA_SASL_PASSWORD": password}  # fmt: skip
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_command_lines_holding, args=(password.encode(), stop, seen))
    watcher.start()
    try:
        with KafkaBroker(tmp_path / "kafka", free_port(), security=security) as broker:
            stop.set()

            async def authenticated_send() -> None:
                producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                                            sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="bw",
                                            sasl_plain_password=password)  # fmt: skip
                await producer.start()
                try:
                    await producer.send_and_wait("smoke", b"hello")
                finally:
                    await producer.stop()

            asyncio.run(authenticated_send())
    finally:
        stop.set()
        watcher.join()
    assert not seen, f"the password was on the command line of process {seen[0]}"
    assert not (tmp_path / "kafka" / "format.args").exists()


def test_a_taken_port_is_reported_before_the_broker_starts(tmp_path):
    with socket.socket() as holder:  # another process's server on what would be the controller port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        broker = KafkaBroker(tmp_path / "kafka", free_port(), controller_port=taken)
        with pytest.raises(
            RuntimeError, match=rf"controller port 127.0.0.1:{taken} is taken .* BLOOMWATCH_KAFKA_CONTROLLER_PORT"
        ):
            broker.start()
    assert not (tmp_path / "kafka" / "broker.pid").exists()


def test_deployment_broker_takes_its_controller_port_from_the_settings(tmp_path):
    settings = Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:9500")
    assert KafkaBroker.from_settings(settings).controller_port == 9501
    assert (
        KafkaBroker.from_settings(settings.model_copy(update={"kafka_controller_port": 9700})).controller_port == 9700
    )


def test_topics_created_with_configured_partitions_and_idempotent(kafka_broker):
    settings = Settings(**unique_topics("topics"), topic_partitions=3)
    specs = topic_specs(settings.kafka)
    first = asyncio.run(ensure_topics(kafka_broker, specs))
    again = asyncio.run(ensure_topics(kafka_broker, specs))
    expected = {spec.name: 3 for spec in specs}
    assert first == expected
    assert again == expected


def test_fetch_says_what_it_downloads_and_keeps_maven_inside_the_project(tmp_path):
    """Into a fresh lib dir with HOME elsewhere: Maven's cache is the project's .kafka/m2 (already
    filled by `scripts/kafka.sh fetch` in scripts/test.sh), never ~/.m2, and the output is plain."""
    home, lib = tmp_path / "user-home", tmp_path / "lib"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "BLOOMWATCH_KAFKA_LIB": str(lib)}
    result = subprocess.run([str(KAFKA_SCRIPT), "fetch"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "fetching Apache Kafka 4.4.0 (the kafka_2.13 broker and its runtime jars" in result.stderr
    assert f"into {lib}; Maven's cache: {KAFKA_SCRIPT.parents[1] / '.kafka' / 'm2'}" in result.stderr
    assert re.search(r"fetched \d+ jars \(\d+M\) in \d+s", result.stderr), result.stderr
    assert "\x1b" not in result.stderr + result.stdout
    assert any(jar.name.startswith("kafka_2.13-") for jar in lib.glob("*.jar"))
    assert not list(home.iterdir()), "Maven wrote into HOME"

"""The repo's own Kafka broker: starts, serves real clients, creates topics, stops cleanly."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_consume import unique_topics

from bloomwatch.settings import Settings
from bloomwatch.net import free_port
from streams.broker import KafkaBroker
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


def test_topics_created_with_configured_partitions_and_idempotent(kafka_broker):
    settings = Settings(**unique_topics("topics"), topic_partitions=3)
    specs = topic_specs(settings)
    first = asyncio.run(ensure_topics(kafka_broker, specs))
    again = asyncio.run(ensure_topics(kafka_broker, specs))
    expected = {spec.name: 3 for spec in specs}
    assert first == expected
    assert again == expected

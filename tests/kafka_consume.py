"""Reading test topics back with a real consumer, to check what publishers actually wrote."""

import asyncio
import json
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition


def unique_topics(prefix: str) -> dict[str, str]:
    """Settings topic_* fields naming topics no other test (or a worker under test) reads or writes."""
    run = f"{prefix}-{uuid.uuid4().hex[:8]}"
    names = ("news", "reviews", "labels", "alerts", "dead_letter")
    return {f"topic_{name}": f"{run}-{name}" for name in names}


def consume(bootstrap: str, topics: list[str], expected: int, timeout_s: float = 30) -> list[tuple[str, bytes, dict]]:
    """(topic, key, JSON value) of the first `expected` messages on `topics`, from the beginning."""

    async def run() -> list[tuple[str, bytes, dict]]:
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        messages = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(messages) < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                messages += [(m.topic, m.key, json.loads(m.value)) for batch in batches.values() for m in batch]
        finally:
            await consumer.stop()
        return messages

    return asyncio.run(run())


def read_topic(bootstrap: str, topic: str, **options) -> list[dict]:
    """Every record of `topic` up to its current end, as JSON; `options`: the consumer's login
    (streams.kafka_security.client_options) on a secured broker."""

    async def read() -> list[dict]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_bytes=32 * 1024 * 1024, max_partition_fetch_bytes=32 * 1024 * 1024, **options,
        )  # fmt: skip
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            end = await consumer.end_offsets(partitions)
            records: list[dict] = []
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batches = await consumer.getmany(timeout_ms=1000)
                records += [json.loads(m.value) for batch in batches.values() for m in batch]
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())

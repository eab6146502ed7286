"""BloomWatch's Kafka topics, created up front with explicit partition counts.

Auto-created topics get the broker's default of one partition, which silently caps a consumer
group at one worker; creating them here (idempotently) is what every entry point does first.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError, for_code

from bloomwatch.setting_groups import KafkaSettings
from streams.kafka_security import check_login

log = logging.getLogger(__name__)

# A dead-letter record carries the original value (up to the broker's 4 MB message limit set in
# scripts/kafka.sh) base64-encoded, so it needs more room than the 1 MB default.
DEAD_LETTER_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(kafka: KafkaSettings) -> list[TopicSpec]:
    """Every topic the pipeline uses, named and sized by settings."""
    partitions = kafka.topic_partitions
    return [
        TopicSpec(kafka.topic_news, partitions),
        TopicSpec(kafka.topic_reviews, partitions),
        TopicSpec(kafka.topic_labels, partitions),
        TopicSpec(kafka.topic_alerts, partitions),
        TopicSpec(
            kafka.topic_dead_letter,
            partitions,
            {"max.message.bytes": str(DEAD_LETTER_MAX_MESSAGE_BYTES)},
        ),
    ]


def input_topic(kafka: KafkaSettings, kind: str) -> str:
    """The topic a document of `kind` (news | review) is published to."""
    return {"news": kafka.topic_news, "review": kafka.topic_reviews}[kind]


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> dict[str, int]:
    """Partition counts once the broker's metadata shows every topic: right after creation it
    still answers with no partitions for a moment."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0 and t["partitions"]}
        if len(ready) == len(names) or asyncio.get_running_loop().time() > deadline:
            return ready
        await asyncio.sleep(0.1)


async def ensure_topics(
    bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30, **client_options
) -> dict[str, int]:
    """Create the missing topics; return every topic's actual partition count.

    Existing topics are left alone (a partition count can only grow, and growing it would move
    keys between partitions), but a mismatch is logged so the operator can see it.
    `client_options`: how to authenticate (streams.kafka_security.client_options); as every
    entry point's first contact with Kafka, it raises KafkaSecurityError for refused credentials.
    """
    await check_login(bootstrap, client_options)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bloomwatch-topics", **client_options)
    await admin.start()
    try:
        wanted = {spec.name: spec for spec in specs}
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, replication_factor=1, topic_configs=s.config) for s in missing]
            )
            for topic, error_code, *message in response.topic_errors:
                error = for_code(error_code)
                if error_code and error is not TopicAlreadyExistsError:
                    raise error(f"creating topic {topic!r}: {message[0] if message else ''}")
        counts = await _partition_counts(admin, list(wanted), timeout_s)
        for name, spec in wanted.items():
            if counts.get(name) != spec.partitions:
                log.warning("topic %s has %s partitions; settings ask for %d", name, counts.get(name), spec.partitions)
        return counts
    finally:
        await admin.close()


async def wait_for_group_coordinator(bootstrap: str, group: str, timeout_s: float = 60, **client_options) -> float:
    """Return once the broker can coordinate `group`: the seconds it took.

    A freshly started broker creates its `__consumer_offsets` topic on the first group request;
    until then it answers GroupCoordinatorNotAvailable, which aiokafka's consumer logs as an ERROR
    although it is only start-up. Asking first keeps the worker's log honest.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bloomwatch-coordinator", **client_options)
    await admin.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while True:
            try:
                await admin.find_coordinator(group)
                return loop.time() - started
            except GroupCoordinatorNotAvailableError:
                if loop.time() - started > timeout_s:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await admin.close()

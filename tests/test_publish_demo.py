"""Demo stream: valid documents at recent times, a negative burst where and when it is scheduled,
and rate-limited publishing through the real Publisher."""

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from kafka_consume import consume, unique_topics

from bloomwatch.schemas import Document
from bloomwatch.settings import Settings
from streams.demo import Burst, demo_documents, run_demo_stream, shared_pools, synthetic_pools
from streams.publisher import Publisher
from streams.topics import ensure_topics, topic_specs

RATE = 10.0  # documents per second of stream time: 6 minutes = 3,600 documents


def is_negative(document: Document) -> bool:
    return "-neg-" in document.id  # the original id, kept in the demo id, names the polarity


def negative_share(documents: list[Document]) -> float:
    return sum(map(is_negative, documents)) / len(documents)


def six_minutes(pools) -> list[Document]:
    started = datetime.now(UTC)
    stream = demo_documents(pools, rate_per_s=RATE, started_at=started, seed=1, burst=Burst(start_min=2, minutes=2))
    return list(itertools.islice(stream, int(6 * 60 * RATE)))


DEMO_BURST = Burst()


def assert_burst(documents: list[Document], burst: Burst = DEMO_BURST) -> None:
    started = documents[0].published_at
    in_burst = [d for d in documents if burst.active((d.published_at - started).total_seconds())]
    before = [d for d in documents if d.published_at - started < timedelta(minutes=burst.start_min)]
    burst_reviews = [d for d in in_burst if d.kind == "review" and d.source == burst.source]
    other_reviews = [d for d in in_burst if d.kind == "review" and d.source != burst.source]
    quiet_reviews = [d for d in before if d.kind == "review" and d.source == burst.source]
    assert negative_share(burst_reviews) > 0.8
    assert negative_share(other_reviews) < 0.45
    assert negative_share(quiet_reviews) < 0.45


def test_synthetic_stream_is_valid_recent_and_bursts():
    documents = six_minutes(synthetic_pools(seed=3))
    assert len({d.id for d in documents}) == len(documents)
    assert {d.kind for d in documents} == {"news", "review"}
    assert all(Document.model_validate_json(d.model_dump_json()) == d for d in documents[:200])
    assert datetime.now(UTC) - documents[0].published_at < timedelta(minutes=1)
    assert_burst(documents)


def test_shared_data_stream_bursts_too():
    pools = shared_pools(Settings().data_dir)
    if pools is None:
        pytest.skip("shared datasets not present (BLOOMWATCH_DATA_DIR)")
    documents = six_minutes(pools)
    assert {d.source for d in documents if d.kind == "news"} == {"agnews-wire", "finance-wire"}
    assert_burst(documents)


def test_shared_data_stream_replays_no_text_the_retraining_gate_tests():
    data_dir = Settings().data_dir
    pools = shared_pools(data_dir)
    if pools is None:
        pytest.skip("shared datasets not present (BLOOMWATCH_DATA_DIR)")
    tested = {
        json.loads(line)["text"]
        for name in ("reviews_mr", "news_agnews", "finance_fpb")
        for line in (data_dir / name / "test.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    replayed = [text for _, text in pools.negative_reviews + pools.positive_reviews] + [
        text for _, _, text in pools.news
    ]
    assert replayed and not tested.intersection(replayed)


@pytest.mark.kafka
def test_run_demo_stream_publishes_at_the_requested_rate(kafka_broker):
    settings = Settings(**unique_topics("demo"), kafka_bootstrap=kafka_broker)
    asyncio.run(ensure_topics(kafka_broker, topic_specs(settings.kafka)))

    async def run() -> tuple[int, float]:
        async with Publisher(kafka_broker, settings.kafka) as publisher:
            loop = asyncio.get_running_loop()
            started = loop.time()
            accepted = await run_demo_stream(publisher, rate_per_s=100, limit=150, settings=settings)
            return accepted, loop.time() - started

    accepted, seconds = asyncio.run(run())
    assert accepted == 150
    assert 1.2 <= seconds < 10  # 150 documents at 100/s: paced, not sent at once
    messages = consume(kafka_broker, [settings.topic_news, settings.topic_reviews], expected=150)
    assert len({key for _, key, _ in messages}) == 150

"""Publisher: valid documents reach their topic keyed by id; invalid ones come back with reasons."""

import asyncio

import pytest
from kafka_consume import consume, unique_topics

from bloomwatch.schemas import Document
from bloomwatch.settings import Settings
from streams.publisher import Publisher
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.kafka


@pytest.fixture
def settings(kafka_broker) -> Settings:
    settings = Settings(**unique_topics("pub"), kafka_bootstrap=kafka_broker)
    asyncio.run(ensure_topics(kafka_broker, topic_specs(settings.kafka)))
    return settings


def test_publisher_routes_valid_documents_and_rejects_invalid_ones(kafka_broker, settings):
    records = [
        {"id": "n-1", "source": "wire", "kind": "news", "text": "Rates were left unchanged."},
        {"id": "r-1", "source": "shop", "kind": "review", "text": "Broke after a day.", "lang": "en"},
        {"id": "bad-empty", "source": "shop", "kind": "review", "text": "  "},
        {"source": "shop", "kind": "review", "text": "no id"},
        {"id": "bad-kind", "source": "shop", "kind": "tweet", "text": "hello"},
        {"id": "bad-extra", "source": "shop", "kind": "news", "text": "x", "colour": "red"},
        {"id": "bad-date", "source": "wire", "kind": "news", "text": "x", "published_at": "2026-01-01T10:00:00"},
        Document(id="n-2", source="wire", kind="news", text="Shares rose."),
    ]

    async def run():
        async with Publisher(kafka_broker, settings.kafka) as publisher:
            return await publisher.publish(records)

    result = asyncio.run(run())

    assert result.accepted == ["n-1", "r-1", "n-2"]
    reasons = {rejection.position: rejection.reason for rejection in result.rejected}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "text is empty" in reasons[2]
    assert reasons[3].startswith("id: Field required")
    assert reasons[4].startswith("kind:")
    assert reasons[5].startswith("colour: Extra inputs")
    assert reasons[6].startswith("published_at:")  # a time without a time zone is ambiguous
    assert not any(rejection.retryable for rejection in result.rejected)

    messages = consume(kafka_broker, [settings.topic_news, settings.topic_reviews], expected=3)
    stored = {(topic, key): value for topic, key, value in messages}
    news, reviews = settings.topic_news, settings.topic_reviews
    assert set(stored) == {(news, b"n-1"), (reviews, b"r-1"), (news, b"n-2")}
    assert Document.model_validate(stored[(settings.topic_reviews, b"r-1")]).lang == "en"


def test_publisher_with_a_fixed_topic_rejects_the_other_kind(kafka_broker, settings):
    async def run():
        async with Publisher(kafka_broker, settings.kafka) as publisher:
            return await publisher.publish(
                [{"id": "r-9", "source": "shop", "kind": "review", "text": "Fine."}], topic=settings.topic_news
            )

    result = asyncio.run(run())
    assert result.accepted == []
    assert "does not belong on topic" in result.rejected[0].reason

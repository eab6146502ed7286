"""Demo stream: valid documents at recent times, a negative burst where and when it is scheduled
(an English shop's, then a complaint storm in Chinese at the Shanghai shop, with the volume an
alert window of the default rules judges), and rate-limited publishing through the real Publisher."""

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from kafka_consume import consume, unique_topics

from bloomwatch.alerts.detector import WindowCount, judge
from bloomwatch.alerts.lifecycle import FIRING, advance
from bloomwatch.alerts.rules import load_rules
from bloomwatch.alerts.windows import floor_window, window_starts
from bloomwatch.language import languages_of
from bloomwatch.schemas import Document
from bloomwatch.settings import Settings
from streams.demo import (
    DEMO_BURSTS,
    MARKET_SOURCES,
    Burst,
    demo_documents,
    run_demo_stream,
    shared_pools,
    synthetic_pools,
)
from streams.publisher import Publisher
from streams.topics import ensure_topics, topic_specs
from training.registry import Registry

RATE = 20.0  # documents per second of stream time, `bloomwatch up`'s: 8 minutes = 9,600 documents


def is_negative(document: Document) -> bool:
    return "-neg-" in document.id  # the original id, kept in the demo id, names the polarity


def negative_share(documents: list[Document]) -> float:
    return sum(map(is_negative, documents)) / len(documents)


def eight_minutes(pools) -> list[Document]:
    """Past the end of the last of the demo's bursts."""
    assert max(burst.start_min + burst.minutes for burst in DEMO_BURSTS) <= 8
    stream = demo_documents(pools, rate_per_s=RATE, started_at=datetime.now(UTC), seed=1)
    return list(itertools.islice(stream, int(8 * 60 * RATE)))


DEMO_BURST, MARKET_BURST = DEMO_BURSTS


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


def test_the_chinese_shop_has_a_complaint_storm_an_alert_window_can_judge():
    documents = eight_minutes(synthetic_pools(seed=3))
    assert_burst(documents, MARKET_BURST)
    started = documents[0].published_at
    storm = [
        d for d in documents if MARKET_BURST.active((d.published_at - started).total_seconds())
        and d.source == MARKET_BURST.source
    ]  # fmt: skip
    assert MARKET_BURST.source == MARKET_SOURCES["zh"] and {d.lang for d in storm} == {"zh"}
    assert {code for code, _ in languages_of([d.text for d in storm[:50]])} == {"zh"}
    per_window = len(storm) / (MARKET_BURST.minutes * 60)
    for rule in load_rules().rules:
        assert per_window * rule.window_s >= rule.min_volume, rule.name


def shop_windows(rule, shop: list[Document], negative_ids: set[str]) -> list[WindowCount]:
    """The rule's windows over one shop's documents, those in `negative_ids` counted negative."""
    counts: dict = {}
    for document in shop:
        n, x = counts.get(floor_window(rule, document.published_at), (0, 0))
        counted = document.id in negative_ids if rule.metric == "negative_share" else True
        counts[floor_window(rule, document.published_at)] = (n + 1, x + counted)
    starts = window_starts(rule, floor_window(rule, shop[0].published_at), shop[-1].published_at)
    return [WindowCount(start, *counts.get(start, (0, 0))) for start in starts]


def fired_windows(rule, shop: list[Document], negative_ids: set[str]) -> list[datetime]:
    """Window starts at which the rule's alert for this shop fires: the alert lifecycle
    (lifecycle.advance) over the detector's verdicts."""
    alert, fired = None, []
    for verdict in judge(rule, shop_windows(rule, shop, negative_ids)):
        transition = advance(rule, shop[0].source, alert, verdict, now=verdict.window.start)
        alert = transition.alert if transition else alert
        if transition and transition.notify and transition.alert.state == FIRING:
            fired.append(verdict.window.start)
    return fired


@pytest.mark.parametrize(
    "rule", [rule for rule in load_rules().rules if rule.group_by == ["source"]], ids=lambda rule: rule.name
)
def test_the_chinese_storm_fires_each_rule_by_source_where_a_model_reads_chinese(rule):
    """The shipped rules' detector over the Shanghai shop's windows, each review counted negative
    when it is (what a model that reads Chinese answers when it is right): the storm's windows are
    anomalous for long enough to fire, and no window before it is."""
    documents = eight_minutes(synthetic_pools(seed=3))
    shop = [d for d in documents if d.source == MARKET_BURST.source]
    verdicts = judge(rule, shop_windows(rule, shop, {d.id for d in shop if is_negative(d)}))
    storm_start = documents[0].published_at + timedelta(minutes=MARKET_BURST.start_min)
    anomalous = [verdict.window.start for verdict in verdicts if verdict.anomalous]
    assert len([start for start in anomalous if start >= storm_start]) >= rule.for_windows, verdicts
    assert all(start + timedelta(seconds=rule.window_s) > storm_start for start in anomalous), anomalous


def test_the_shipped_line_fires_the_chinese_storm_and_nothing_at_the_other_markets():
    """The shipped models as `up` serves them: each market shop's reviews scored by the shipped
    sentiment line that reads their language (none reads them: this test has nothing to check),
    through every by-source rule. The storm at the Shanghai shop fires negative-share-by-source
    after it starts; the calm shops' reviews, misread as the model misreads them, fire nothing."""
    from classifiers.embedded import EmbeddedEngine

    registry = Registry(Settings().shipped_models_dir)
    lines = [registry.current("sentiment", line) for line in registry.current_versions("sentiment")]
    readers = {lang: v for v in reversed(lines) for lang in v.manifest["languages"]}  # the first line that reads it
    documents = eight_minutes(synthetic_pools(seed=3))
    storm_start = documents[0].published_at + timedelta(minutes=MARKET_BURST.start_min)
    rules = [rule for rule in load_rules().rules if rule.group_by == ["source"] and rule.metric == "negative_share"]
    assert rules and "zh" in readers
    for lang, source in MARKET_SOURCES.items():
        if lang not in readers:
            continue
        shop = [d for d in documents if d.source == source]
        predictions = EmbeddedEngine.from_version(readers[lang]).classify([d.text for d in shop])
        negative = {d.id for d, p in zip(shop, predictions, strict=True) if p.label == "negative"}
        for rule in rules:
            fired = fired_windows(rule, shop, negative)
            if source == MARKET_BURST.source:
                assert fired and all(start + timedelta(seconds=rule.window_s) > storm_start for start in fired), fired
            else:
                assert fired == [], (rule.name, source, fired)


def test_synthetic_stream_is_valid_recent_and_bursts():
    documents = eight_minutes(synthetic_pools(seed=3))
    assert len({d.id for d in documents}) == len(documents)
    assert {d.kind for d in documents} == {"news", "review"}
    assert all(Document.model_validate_json(d.model_dump_json()) == d for d in documents[:200])
    assert datetime.now(UTC) - documents[0].published_at < timedelta(minutes=1)
    assert_burst(documents)


def test_shared_data_stream_bursts_too():
    pools = shared_pools(Settings().data_dir)
    if pools is None:
        pytest.skip("shared datasets not present (BLOOMWATCH_DATA_DIR)")
    documents = eight_minutes(pools)
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

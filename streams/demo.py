"""The demo stream `bloomwatch up` and `bloomwatch demo-stream` publish: news and reviews at a steady
rate, with a scheduled burst of negative reviews for one source so the alert rules have something
real to fire on.

With the shared datasets present (settings.data_dir) it replays their validation splits
(reviews_mr -> reviews; news_agnews and finance_fpb -> news): text the classifier was not trained
on, and not the test splits either, since a demo document a user labels must not end up in what
the retraining gate tests (docs/retraining.md); otherwise it generates templated, seeded synthetic
news and reviews. Either way a share of the reviews comes from shops in other markets, in Chinese,
German, Spanish and French (MARKET_SOURCES), one of which has a burst of its own (DEMO_BURSTS), and documents carry recent `published_at` times (old ones would fall outside the dashboards' windows
and the table TTL).
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bloomwatch.phrasebook import PHRASEBOOKS
from bloomwatch.schemas import Document, DocumentKind
from bloomwatch.settings import Settings, get_settings
from streams.publisher import Publisher

log = logging.getLogger(__name__)

REVIEW_SOURCES = ("shop-north", "shop-south", "app-store")
REVIEW_SHARE = 0.5  # the rest is news
# A share of the reviews comes from shops in other markets, in their language (bloomwatch/phrasebook.py
# templates, never the shared data): the dashboard shows them by language, scored by a model that
# reads them or stored unscored where none does.
MARKET_SOURCES = {"zh": "shop-shanghai", "de": "shop-berlin", "es": "shop-madrid", "fr": "shop-paris"}
MARKET_SHARE = 0.15  # of the reviews
BASE_NEGATIVE_SHARE = 0.3  # of a source's reviews outside a burst


@dataclass(frozen=True)
class Burst:
    """From minute `start_min` to `start_min + minutes` of the stream, `negative_share` of
    `source`'s reviews are negative (BASE_NEGATIVE_SHARE otherwise), and `extra_share` of all the
    stream's documents are further reviews of `source`: a complaint storm, for a shop whose usual
    volume is below what an alert window judges (the rules' `min_volume`)."""

    start_min: float = 2.0
    minutes: float = 2.0
    source: str = "shop-south"
    negative_share: float = 0.9
    extra_share: float = 0.0

    def active(self, elapsed_s: float) -> bool:
        return self.start_min * 60 <= elapsed_s < (self.start_min + self.minutes) * 60


# The demo's bursts: an English shop's reviews turn negative at minute 2; a complaint storm in
# Chinese at the Shanghai shop at minute 5 (about 70 reviews a 30-second window at 20 documents/s),
# which fires where a model of the sentiment task reads Chinese (the shipped multilingual line does)
# and is stored unscored elsewhere.
DEMO_BURSTS = (Burst(), Burst(start_min=5.0, source=MARKET_SOURCES["zh"], extra_share=0.1))


@dataclass(frozen=True)
class Pools:
    """Texts to draw from: reviews by polarity, news by (source, original id)."""

    negative_reviews: list[tuple[str, str]]  # (original id, text)
    positive_reviews: list[tuple[str, str]]
    news: list[tuple[str, str, str]]  # (source, original id, text)
    origin: str  # "shared data <dir>" or "synthetic"


def _read_split(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def shared_pools(data_dir: Path) -> Pools | None:
    """The validation splits of the shared datasets, or None when they are not there."""
    paths = {name: data_dir / name / "val.jsonl" for name in ("reviews_mr", "news_agnews", "finance_fpb")}
    if not all(path.is_file() for path in paths.values()):
        return None
    reviews = _read_split(paths["reviews_mr"])
    news = [("agnews-wire", row["id"], row["text"]) for row in _read_split(paths["news_agnews"])]
    news += [("finance-wire", row["id"], row["text"]) for row in _read_split(paths["finance_fpb"])]
    return Pools(
        negative_reviews=[(row["id"], row["text"]) for row in reviews if row["label"] == "negative"],
        positive_reviews=[(row["id"], row["text"]) for row in reviews if row["label"] == "positive"],
        news=news,
        origin=f"shared data {data_dir}",
    )


_PRODUCTS = ("phone", "blender", "headphones", "laptop", "coffee maker", "jacket", "tent", "e-reader")
_GOOD = ("excellent", "great", "reliable", "superb", "well made", "worth every penny")
_BAD = ("terrible", "flimsy", "useless", "disappointing", "broken on arrival", "a waste of money")
_POSITIVE_REVIEWS = (
    "The {p} is {g}; delivery was quick and setup took minutes.",
    "Really happy with this {p}, it is {g} and the support team was friendly.",
    "Five stars: the {p} feels {g} and does exactly what it promises.",
)
_NEGATIVE_REVIEWS = (
    "The {p} is {b}; it stopped working after two days and nobody answers my emails.",
    "Avoid this {p}. {B}, and the refund has taken three weeks so far.",
    "One star: the {p} arrived {b} and customer service was rude.",
)
_NEWS = {
    "world": (
        "Leaders of {n} countries met in {c} to discuss a ceasefire and humanitarian aid.",
        "Elections in {c} drew record turnout as voters chose a new parliament.",
    ),
    "sports": (
        "{c} beat their rivals {n}-1 to reach the cup final on Sunday.",
        "The marathon in {c} was won in a course record by a first-time runner.",
    ),
    "business": (
        "Shares of a {c} retailer fell {n} percent after it cut its profit forecast.",
        "The central bank of {c} raised interest rates by {n} tenths of a point.",
    ),
    "sci_tech": (
        "Researchers in {c} unveiled a battery that charges in {n} minutes.",
        "A satellite built in {c} sent back its first images of the solar wind.",
    ),
}
_CITIES = ("Lisbon", "Nairobi", "Oslo", "Seoul", "Lima", "Toronto", "Cairo", "Hanoi")


def synthetic_pools(seed: int, per_kind: int = 600) -> Pools:
    """Templated texts (seeded) for a machine without the shared datasets."""
    rng = random.Random(seed)

    def review(templates: tuple[str, ...]) -> str:
        bad = rng.choice(_BAD)
        return rng.choice(templates).format(p=rng.choice(_PRODUCTS), g=rng.choice(_GOOD), b=bad, B=bad.capitalize())

    news = []
    for i in range(per_kind):
        topic = rng.choice(tuple(_NEWS))
        text = rng.choice(_NEWS[topic]).format(c=rng.choice(_CITIES), n=rng.randint(2, 9))
        news.append(("synthetic-wire", f"syn-news-{i}", text))
    return Pools(
        negative_reviews=[(f"syn-neg-{i}", review(_NEGATIVE_REVIEWS)) for i in range(per_kind)],
        positive_reviews=[(f"syn-pos-{i}", review(_POSITIVE_REVIEWS)) for i in range(per_kind)],
        news=news,
        origin="synthetic",
    )


def demo_pools(settings: Settings) -> Pools:
    return shared_pools(settings.data_dir) or synthetic_pools(settings.seed)


def demo_documents(
    pools: Pools, *, rate_per_s: float, started_at: datetime, seed: int, bursts: tuple[Burst, ...] = DEMO_BURSTS
) -> Iterator[Document]:
    """An endless, reproducible stream; document i belongs at `started_at + i / rate_per_s`.

    Ids are `demo-<start>-<n>-<original id>`: unique within a run (texts repeat once the pools
    are used up) and across runs, so a second demo adds documents instead of replacing them. A
    market review's original id names its language and polarity (`zh-neg-…`).
    """
    rng = random.Random(seed)
    run = started_at.strftime("%Y%m%dT%H%M%S")
    market_languages = {source: lang for lang, source in MARKET_SOURCES.items()}
    number = 0
    while True:
        elapsed_s = number / rate_per_s
        published_at = started_at + timedelta(seconds=elapsed_s)
        active = [burst for burst in bursts if burst.active(elapsed_s)]
        storm = next((burst for burst in active if rng.random() < burst.extra_share), None)
        kind: DocumentKind = "review"
        if storm is not None:
            source = storm.source
        elif rng.random() >= REVIEW_SHARE:
            source, original_id, text = rng.choice(pools.news)
            kind = "news"
        elif rng.random() < MARKET_SHARE:
            source = rng.choice(list(MARKET_SOURCES.values()))
        else:
            source = rng.choice(REVIEW_SOURCES)
        lang = market_languages.get(source, "en")
        if kind == "review":
            bursting = next((burst for burst in active if burst.source == source), None)
            negative = rng.random() < (bursting.negative_share if bursting else BASE_NEGATIVE_SHARE)
            if lang == "en":
                original_id, text = rng.choice(pools.negative_reviews if negative else pools.positive_reviews)
            else:
                wanted = "negative" if negative else rng.choice(("neutral", "positive"))
                text, label = PHRASEBOOKS[lang].sentence(rng, wanted)
                original_id = f"{lang}-{label[:3]}-{number}"
        yield Document(
            id=f"demo-{run}-{number}-{original_id}",
            source=source,
            kind=kind,
            text=text,
            published_at=published_at,
            lang=lang,
            metadata={"origin": "demo"},
        )
        number += 1


async def run_demo_stream(
    publisher: Publisher,
    rate_per_s: float = 20.0,
    limit: int | None = None,
    bursts: tuple[Burst, ...] = DEMO_BURSTS,
    settings: Settings | None = None,
) -> int:
    """Publish the demo stream at `rate_per_s` until `limit` documents were sent (forever if None);
    return how many Kafka accepted.

    Sends in 100 ms ticks so the rate holds without one Kafka round trip per document.
    """
    settings = settings or get_settings()
    pools = demo_pools(settings)
    started_at = datetime.now(UTC)
    documents = demo_documents(pools, rate_per_s=rate_per_s, started_at=started_at, seed=settings.seed, bursts=bursts)
    log.info("demo stream: %s, %g docs/s, bursts %s", pools.origin, rate_per_s, bursts or "none")
    clock_start = time.monotonic()
    published = accepted = 0
    while limit is None or published < limit:
        due = int((time.monotonic() - clock_start) * rate_per_s) + 1
        if limit is not None:
            due = min(due, limit)
        batch = [next(documents) for _ in range(due - published)]
        if batch:
            result = await publisher.publish(batch)
            for rejection in result.rejected:  # only Kafka failures can land here: the documents are valid
                log.warning("demo document %s not published: %s", rejection.id, rejection.reason)
            published += len(batch)
            accepted += len(result.accepted)
        await asyncio.sleep(0.1)
    return accepted

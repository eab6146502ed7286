"""Random and malformed Kafka messages for the fuzz run, and the accounting of where each one went.

The generator is hypothesis: raw bytes, invalid UTF-8, JSON of every shape, unicode edge cases
(lone surrogates, RTL and zero-width marks, emoji, NUL), empty and huge fields, wrong types,
unknown fields and ids shared by several messages. About a third are valid documents, so the
classifiers and the store see the odd-but-legal text too. Each message is then accounted for
by its Kafka position: a dead-letter record names (topic, partition, offset); any other message
must be a document whose id is stored. Whatever is neither is unaccounted for.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import hypothesis
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka_consume import read_topic
from pipeline_support import Deployment

# Characters that break naive text handling: RTL/LTR overrides and marks, zero-width joiners and
# spaces, the BOM, combining marks, NUL and control characters, astral emoji (with ZWJ and skin
# tone sequences), a replacement character, and a non-character.
EDGE_CHARS = list(
    "\u202e\u202d\u200f\u200e\u061c\u200b\u200c\u200d\u2060\ufeff\u0301\u0338\x00\x07\x1b\r\n\t\u2028\u2029"
    "\U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467\U0001f44d\U0001f3fd\U0001f1fa\U0001f1e6\ufffd\uffff"
    "\u05e9\u05dc\u05d5\u05dd\u0645\u0631\u062d\u0628\u0627\u4e2d\u6587"
)
# A small pool of ids: documents drawing from it share ids with other messages (duplicates).
SHARED_IDS = [f"dup-{i}" for i in range(20)]


def weighted(*options: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each drawn `weight` times as often (hypothesis's own choices lean
    towards the first, simplest option, so the rare ones go last)."""
    return st.sampled_from([strategy for weight, strategy in options for _ in range(weight)]).flatmap(lambda s: s)


def _sometimes_huge(normal: st.SearchStrategy[str], huge_chars: int) -> st.SearchStrategy[str]:
    """Mostly `normal`; now and then a text around `huge_chars` characters (either side of a limit)."""
    huge = st.integers(huge_chars - 2, huge_chars + 2).flatmap(
        lambda n: st.sampled_from(["x", "é", "\U0001f600", " "]).map(lambda c: c * n)
    )
    return weighted((99, normal), (1, huge))


def texts(max_text_chars: int) -> st.SearchStrategy[str]:
    edge = st.text(alphabet=st.sampled_from(EDGE_CHARS), max_size=40)
    words = st.lists(st.sampled_from("markets rallied the bank fell striker scored great awful".split()), min_size=1, max_size=30)
    mixed = st.lists(st.one_of(st.text(max_size=20), edge, words.map(" ".join)), min_size=1, max_size=6).map("".join)
    blank = st.sampled_from(["", " ", "\n\t ", "\u3000"])
    normal = weighted((6, words.map(" ".join)), (3, mixed), (2, st.text(max_size=200)), (2, edge), (1, blank))
    return _sometimes_huge(normal, max_text_chars)


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def documents(max_text_chars: int) -> st.SearchStrategy[dict]:
    """Document-shaped objects: each field valid, odd, missing or of the wrong type."""

    def maybe_wrong(good: st.SearchStrategy) -> st.SearchStrategy:
        return weighted((39, good), (1, WRONG_VALUES))

    ids = st.one_of(st.sampled_from(SHARED_IDS), st.uuids().map(str), st.text(min_size=1, max_size=300))
    times = weighted(
        (8, st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())),
        (1, st.datetimes().map(lambda t: t.isoformat())),  # naive: refused
        (1, st.sampled_from(["2026-13-01T00:00:00Z", "yesterday", "", "1970-01-01T00:00:00Z", "2299-12-31T23:59:59Z"])),
    )
    required = {
        "id": maybe_wrong(ids),
        "source": maybe_wrong(st.one_of(st.sampled_from(["wire", "shop"]), st.text(max_size=300))),
        "kind": maybe_wrong(st.sampled_from(["news", "review"] * 8 + ["blog", "NEWS", ""])),
        "text": maybe_wrong(texts(max_text_chars)),
    }
    optional = {
        "published_at": maybe_wrong(times),
        "lang": maybe_wrong(st.one_of(st.just("en"), st.text(max_size=20))),
        "url": maybe_wrong(st.one_of(st.just("https://example.com/a"), st.text(max_size=100))),
        "metadata": maybe_wrong(st.dictionaries(st.text(max_size=30), weighted((9, st.text(max_size=30)), (1, WRONG_VALUES)), max_size=5)),
    }
    # one in forty loses a required field or gains an unknown one
    spoilt = st.sampled_from([None] * 39 + ["drop", "extra"])
    return st.tuples(st.fixed_dictionaries(required, optional=optional), spoilt, st.sampled_from(sorted(required))).map(_spoil)


def _spoil(drawn: tuple[dict, str | None, str]) -> dict:
    document, how, name = drawn
    if how == "drop":
        return {key: value for key, value in document.items() if key != name}
    return {**document, "sentiment": "positive"} if how == "extra" else document


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _encoded(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, allow_nan=True).encode()


def values(max_text_chars: int) -> st.SearchStrategy[bytes | None]:
    """One message value of any kind (two thirds document-shaped JSON, valid or not)."""
    docs = documents(max_text_chars)
    document_json = docs.map(_encoded)
    ascii_json = docs.map(lambda d: json.dumps(d, allow_nan=True).encode())  # \uXXXX escapes, incl. lone surrogates
    with_lone_surrogate = docs.map(lambda d: {**d, "text": f"broken {chr(0xD800)} pair"}).map(
        lambda d: json.dumps(d).encode()
    )
    invalid_utf8 = st.tuples(document_json, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]), st.integers(0, 1000)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    truncated = document_json.flatmap(lambda raw: st.integers(0, max(0, len(raw) - 1)).map(lambda n: raw[:n]))
    other_json = JSON_VALUES.map(lambda v: json.dumps(v).encode())
    nested = st.sampled_from([2, 1_000, 200_000]).map(lambda depth: b"[" * depth + b"]" * depth)
    oversize = st.just(b'{"id": "big", "source": "s", "kind": "news", "text": "' + b"y" * (max_text_chars * 12 + 70_000) + b'"}')
    return weighted(
        (48, document_json), (16, ascii_json), (4, with_lone_surrogate), (4, invalid_utf8), (4, truncated),
        (8, other_json), (4, st.binary(max_size=300)), (4, st.sampled_from([None, b""])), (4, nested), (1, oversize),
    )  # fmt: skip


def keys() -> st.SearchStrategy[bytes | None]:
    return st.one_of(st.none(), st.binary(max_size=40), st.sampled_from(SHARED_IDS).map(str.encode))


def _sendable(message: tuple[bytes | None, bytes | None]) -> tuple[bytes | None, bytes | None]:
    """A tombstone needs a key: Kafka clients refuse a record with neither key nor value."""
    key, value = message
    return (b"tombstone" if key is None else key, value) if value is None else message


PER_EXAMPLE = 50  # messages per hypothesis example: the engine's overhead is per example


def generate(n: int, max_text_chars: int, seed: int = 0) -> list[tuple[bytes | None, bytes | None]]:
    """n (key, value) messages drawn by hypothesis; the same seed gives the same messages."""
    drawn: list[tuple[bytes | None, bytes | None]] = []
    message = st.tuples(keys(), values(max_text_chars)).map(_sendable)
    strategy = st.lists(message, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE)
    run = 0
    while len(drawn) < n:  # hypothesis may end a run early once it believes it has seen enough

        @hypothesis.seed(seed + run)
        @settings(max_examples=-(-(n - len(drawn)) // PER_EXAMPLE), database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), deadline=None)  # fmt: skip
        @given(strategy)
        def collect(messages):
            drawn.extend(messages)

        collect()
        run += 1
    return drawn[:n]


@dataclass(frozen=True)
class Published:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def claimed_id(self) -> str | None:
        """The `id` the value carries, if it is a JSON object with a string id (whether valid or not)."""
        try:
            payload = json.loads(self.value)
        except (TypeError, ValueError, RecursionError):
            return None
        identifier = payload.get("id") if isinstance(payload, dict) else None
        return identifier if isinstance(identifier, str) else None


def produce(bootstrap: str, topics: list[str], messages: list[tuple[bytes | None, bytes | None]]) -> list[Published]:
    """Send each message as it is (no validation) to the topics in turn; returns where each landed."""

    async def send() -> list[Published]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024, linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(topics[i % len(topics)], value, key=key) for i, (key, value) in enumerate(messages)
            ]
            placed = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return [
            Published(meta.topic, meta.partition, meta.offset, key, value)
            for meta, (key, value) in zip(placed, messages, strict=True)
        ]

    return asyncio.run(send())


@dataclass
class Accounting:
    messages: int
    stored: int  # messages whose document id is stored (duplicates of an id count each)
    dead_lettered: int
    unaccounted: list[Published] = field(default_factory=list)
    double_counted: dict[str, int] = field(default_factory=dict)  # id -> rows after FINAL, when not 1
    unexpected_ids: set[str] = field(default_factory=set)  # stored, but no message carried the id
    reasonless: int = 0  # dead-letter records without a reason
    reasons: Counter = field(default_factory=Counter)


def account(published: list[Published], dead_letters: list[dict], stored: dict[str, int]) -> Accounting:
    """Where each published message went: dead-lettered (by position), stored (by id), or neither."""
    dead_at = {(r["topic"], r["partition"], r["offset"]) for r in dead_letters}
    result = Accounting(messages=len(published), stored=0, dead_lettered=0)
    for message in published:
        if (message.topic, message.partition, message.offset) in dead_at:
            result.dead_lettered += 1
        elif message.claimed_id is not None and message.claimed_id in stored:
            result.stored += 1
        else:
            result.unaccounted.append(message)
    result.double_counted = {i: n for i, n in stored.items() if n != 1}
    result.unexpected_ids = set(stored) - {m.claimed_id for m in published}
    result.reasonless = sum(1 for r in dead_letters if not r.get("reason") or not r.get("error_type"))
    result.reasons = Counter(r["error_type"] for r in dead_letters)
    return result


def fuzz_pipeline(deployment: Deployment, n: int, seed: int = 0, drain_timeout_s: float = 1800) -> Accounting:
    """n fuzzed messages through the deployment's running worker, then stopped; where each went.

    Done means the worker group committed every input offset (the worker commits only after a
    message is stored or dead-lettered). The worker is stopped before the store is read: chDB
    has one owner at a time. Raises if the worker died on the way."""
    settings = deployment.settings
    worker = deployment.workers[-1]
    messages = generate(n, settings.max_text_chars, seed=seed)
    published = produce(deployment.bootstrap, [settings.topic_news, settings.topic_reviews], messages)

    deployment.wait_until_committed(drain_timeout_s)
    dead_letters = read_topic(deployment.bootstrap, settings.topic_dead_letter)
    worker.stop()
    return account(published, dead_letters, deployment.stored_id_counts())

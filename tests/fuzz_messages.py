"""Random and malformed Kafka messages for the fuzz run, and the accounting of where each one went.

The generator is hypothesis: raw bytes, invalid UTF-8, JSON of every shape, unicode edge cases
(lone surrogates, RTL and zero-width marks, emoji, NUL), empty and huge fields, wrong types,
integers of any length (around the 4,300 digits CPython refuses to parse as well), times outside
DateTime64's range, unknown fields and ids shared by several messages, for both topics the
worker consumes: documents (news, reviews) and labels. About a third are valid, so the
classifiers and the store see the odd-but-legal input too. Each message is then accounted for on
its own: a dead-letter record names its (topic, partition, offset); any other message must be
valid by the worker's own decoder and its key (a document's id, a label's task and document)
must be stored with the content of a valid message carrying that key, so an invalid message is
never counted stored because a valid one shared its id. Whatever is neither is unaccounted for.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka_consume import read_topic
from pipeline_support import Deployment

from bloomwatch.tasks import task_names, tasks
from streams.decoding import decode_document, decode_label

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
    words = st.lists(
        st.sampled_from("markets rallied the bank fell striker scored great awful".split()), min_size=1, max_size=30
    )
    mixed = st.lists(st.one_of(st.text(max_size=20), edge, words.map(" ".join)), min_size=1, max_size=6).map("".join)
    blank = st.sampled_from(["", " ", "\n\t ", "\u3000"])
    normal = weighted((6, words.map(" ".join)), (3, mixed), (2, st.text(max_size=200)), (2, edge), (1, blank))
    return _sometimes_huge(normal, max_text_chars)


# Integers of around 4,300 digits, either side of what CPython parses (json.loads raises a plain
# ValueError beyond). json.dumps cannot write them either (str() has the same limit), so they are
# drawn as a marker string and spliced into the encoded message as digits (`_encoded`).
HUGE_INTEGERS = st.integers(4_290, 5_000).map(lambda digits: f"\x00huge-integer:{digits}")
_HUGE_MARKER = re.compile(rb'"\\u0000huge-integer:(\d+)"')

WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTEGERS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def maybe_wrong(good: st.SearchStrategy) -> st.SearchStrategy:
    return weighted((39, good), (1, WRONG_VALUES))


IDS = st.one_of(st.sampled_from(SHARED_IDS), st.uuids().map(str), st.text(min_size=1, max_size=300))
TIMES = weighted(
    (8, st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())),
    (1, st.datetimes().map(lambda t: t.isoformat())),  # naive: refused
    (
        1,
        st.sampled_from(
            [
                "2026-13-01T00:00:00Z",
                "yesterday",
                "",
                "1970-01-01T00:00:00Z",
                "2299-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                "1899-12-31T23:59:59Z",
                "2300-01-01T00:00:00Z",
            ]
        ),
    ),  # fmt: skip
)


def _spoilt(required: dict, optional: dict) -> st.SearchStrategy[dict]:
    """Objects of these fields; one in forty loses a required field or gains an unknown one."""
    spoilt = st.sampled_from([None] * 39 + ["drop", "extra"])
    return st.tuples(st.fixed_dictionaries(required, optional=optional), spoilt, st.sampled_from(sorted(required))).map(
        _spoil
    )


def documents(max_text_chars: int) -> st.SearchStrategy[dict]:
    """Document-shaped objects: each field valid, odd, missing or of the wrong type."""
    required = {
        "id": maybe_wrong(IDS),
        "source": maybe_wrong(st.one_of(st.sampled_from(["wire", "shop"]), st.text(max_size=300))),
        "kind": maybe_wrong(st.sampled_from(["news", "review"] * 8 + ["blog", "NEWS", ""])),
        "text": maybe_wrong(texts(max_text_chars)),
    }
    optional = {
        "published_at": maybe_wrong(TIMES),
        "lang": maybe_wrong(st.one_of(st.just("en"), st.text(max_size=20))),
        "url": maybe_wrong(st.one_of(st.just("https://example.com/a"), st.text(max_size=100))),
        "metadata": maybe_wrong(
            st.dictionaries(st.text(max_size=30), weighted((9, st.text(max_size=30)), (1, WRONG_VALUES)), max_size=5)
        ),
    }
    return _spoilt(required, optional)


def labels(max_text_chars: int) -> st.SearchStrategy[dict]:
    """LabelEvent-shaped objects: tasks and labels mostly known (not always of each other)."""
    every_label = [label for task in tasks() for label in task.labels]
    required = {
        "document_id": maybe_wrong(IDS),
        "task": maybe_wrong(st.sampled_from([*task_names()] * 6 + ["", "Sentiment", "tone"])),
        "label": maybe_wrong(st.one_of(st.sampled_from(every_label), st.text(max_size=12))),
    }
    optional = {
        "text": maybe_wrong(texts(max_text_chars)),
        "annotator": maybe_wrong(st.one_of(st.sampled_from(["alice", "bob"]), st.text(max_size=30))),
        "labelled_at": maybe_wrong(TIMES),
    }
    return _spoilt(required, optional)


def _spoil(drawn: tuple[dict, str | None, str]) -> dict:
    document, how, name = drawn
    if how == "drop":
        return {key: value for key, value in document.items() if key != name}
    return {**document, "sentiment": "positive"} if how == "extra" else document


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | HUGE_INTEGERS | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _encoded(value: Any, ascii_only: bool = False) -> bytes:
    raw = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode()
    return _HUGE_MARKER.sub(lambda marker: b"7" * int(marker[1]), raw)


def values(objects: st.SearchStrategy[dict], max_text_chars: int) -> st.SearchStrategy[bytes | None]:
    """One message value of any kind (two thirds `objects` as JSON, valid or not)."""
    object_json = objects.map(_encoded)
    ascii_json = objects.map(lambda d: _encoded(d, ascii_only=True))  # \uXXXX escapes, incl. lone surrogates
    with_lone_surrogate = objects.map(lambda d: _encoded({**d, "text": f"broken {chr(0xD800)} pair"}, ascii_only=True))
    invalid_utf8 = st.tuples(
        object_json, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]), st.integers(0, 1000)
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])
    truncated = object_json.flatmap(lambda raw: st.integers(0, max(0, len(raw) - 1)).map(lambda n: raw[:n]))
    other_json = JSON_VALUES.map(_encoded)
    nested = st.sampled_from([2, 1_000, 200_000]).map(lambda depth: b"[" * depth + b"]" * depth)
    oversize = st.just(
        b'{"id": "big", "source": "s", "kind": "news", "text": "' + b"y" * (max_text_chars * 12 + 70_000) + b'"}'
    )
    return weighted(
        (48, object_json), (16, ascii_json), (4, with_lone_surrogate), (4, invalid_utf8), (4, truncated),
        (8, other_json), (4, st.binary(max_size=300)), (4, st.sampled_from([None, b""])), (4, nested), (1, oversize),
    )  # fmt: skip


def keys() -> st.SearchStrategy[bytes | None]:
    return st.one_of(st.none(), st.binary(max_size=40), st.sampled_from(SHARED_IDS).map(str.encode))


def _sendable(message: tuple[bytes | None, bytes | None]) -> tuple[bytes | None, bytes | None]:
    """A tombstone needs a key: Kafka clients refuse a record with neither key nor value."""
    key, value = message
    return (b"tombstone" if key is None else key, value) if value is None else message


PER_EXAMPLE = 50  # messages per hypothesis example: the engine's overhead is per example


def generate(
    n: int, objects: st.SearchStrategy[dict], max_text_chars: int, seed: int = 0
) -> list[tuple[bytes | None, bytes | None]]:
    """n (key, value) messages drawn by hypothesis, of `objects` and every malformation of them;
    the same seed gives the same messages."""
    drawn: list[tuple[bytes | None, bytes | None]] = []
    message = st.tuples(keys(), values(objects, max_text_chars)).map(_sendable)
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


@dataclass(frozen=True)
class Trace:
    """How a message of one kind is found in the store: `decode` is the worker's own decoder (a
    message it refuses must be dead-lettered); `key` names the row it becomes, `content` what of
    the row the message decides."""

    decode: Callable[[bytes | None], Any]
    key: Callable[[Any], Hashable]
    content: Callable[[Any], tuple]
    sql: str  # stored rows after FINAL: the key's columns, the content's columns, count()


DOCUMENTS = Trace(
    decode_document,
    key=lambda document: document.id,
    content=lambda document: (document.source, document.kind, document.text),
    sql="SELECT id, any(source), any(kind), any(text), count() FROM documents FINAL GROUP BY id",
)
LABELS = Trace(
    decode_label,
    key=lambda label: (label.task, label.document_id),
    content=lambda label: (label.label, label.annotator, label.text),
    sql="SELECT (task, document_id), any(label), any(annotator), any(text), count() FROM labels FINAL GROUP BY task, document_id",
)


def _hashable(key: Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key  # a ClickHouse tuple comes back as a JSON list


@dataclass
class Accounting:
    messages: int
    stored: int  # messages that are valid and whose row holds a valid message's content for its key
    dead_lettered: int
    unaccounted: list[Published] = field(default_factory=list)
    double_counted: dict[Hashable, int] = field(default_factory=dict)  # key -> rows after FINAL, when not 1
    unexpected_keys: set[Hashable] = field(default_factory=set)  # stored, but no valid message carried the key
    reasonless: int = 0  # dead-letter records without a reason
    reasons: Counter = field(default_factory=Counter)


def account(published: list[Published], dead_letters: list[dict], stored_rows: list[list], trace: Trace) -> Accounting:
    """Where each published message went: dead-lettered (by position), stored (valid, and its key
    stored with the content of a valid message of that key), or neither."""
    dead_at = {(r["topic"], r["partition"], r["offset"]) for r in dead_letters}
    topics = {message.topic for message in published}
    dead_letters = [r for r in dead_letters if r["topic"] in topics]
    stored = {_hashable(key): (tuple(content), n) for key, *content, n in stored_rows}
    decoded = [_decoded(trace, message.value) for message in published]
    contents: dict[Hashable, set[tuple]] = {}
    for value in decoded:
        if value is not None:
            contents.setdefault(trace.key(value), set()).add(trace.content(value))
    result = Accounting(messages=len(published), stored=0, dead_lettered=0)
    for message, value in zip(published, decoded, strict=True):
        if (message.topic, message.partition, message.offset) in dead_at:
            result.dead_lettered += 1
        elif value is not None and stored.get(trace.key(value), (None,))[0] in contents[trace.key(value)]:
            result.stored += 1
        else:
            result.unaccounted.append(message)
    result.double_counted = {key: n for key, (_, n) in stored.items() if n != 1}
    result.unexpected_keys = set(stored) - set(contents)
    result.reasonless = sum(1 for r in dead_letters if not r.get("reason") or not r.get("error_type"))
    result.reasons = Counter(r["error_type"] for r in dead_letters)
    return result


def _decoded(trace: Trace, value: bytes | None) -> Any:
    """What the worker makes of the value, or None when it must dead-letter it (whatever it raised)."""
    try:
        return trace.decode(value)
    except Exception:  # noqa: BLE001 - any refusal: the message must be in the dead-letter topic
        return None


@dataclass
class FuzzRun:
    documents: Accounting
    labels: Accounting

    @property
    def unaccounted(self) -> int:
        return len(self.documents.unaccounted) + len(self.labels.unaccounted)


def fuzz_pipeline(deployment: Deployment, n: int, seed: int = 0, drain_timeout_s: float = 1800) -> FuzzRun:
    """n fuzzed document messages and n // 4 label messages through the deployment's running
    worker, which is then stopped; where each went.

    Done means the worker group committed every input offset, labels included (the worker commits
    only after a message is stored or dead-lettered). The worker is stopped before the store is
    read: chDB has one owner at a time. Raises if the worker died on the way."""
    settings = deployment.settings
    worker = deployment.workers[-1]
    document_messages = generate(n, documents(settings.max_text_chars), settings.max_text_chars, seed=seed)
    label_messages = generate(max(1, n // 4), labels(settings.max_text_chars), settings.max_text_chars, seed=seed)
    deployment.create_topics()
    published_documents = produce(
        deployment.bootstrap, [settings.topic_news, settings.topic_reviews], document_messages
    )
    published_labels = produce(deployment.bootstrap, [settings.topic_labels], label_messages)

    deployment.wait_until_committed(drain_timeout_s)
    dead_letters = read_topic(deployment.bootstrap, settings.topic_dead_letter)
    worker.stop()
    return FuzzRun(
        documents=account(published_documents, dead_letters, deployment.query_store(DOCUMENTS.sql), DOCUMENTS),
        labels=account(published_labels, dead_letters, deployment.query_store(LABELS.sql), LABELS),
    )

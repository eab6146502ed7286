"""Fast checks of the worker's input contract and of the one schema definition."""

import asyncio
import json
import re
from typing import get_args

import pytest

from bloomwatch.schemas import METADATA_MAX_BYTES, DocumentKind
from bloomwatch.tasks import tasks
from store.documents import COLUMNS, ddl_statements
from streams.decoding import InvalidMessage, decode_document, decode_label
from streams.worker import BatchProcessor, Message, RetryPolicy


def _doc(**fields) -> bytes:
    return json.dumps({"id": "d1", "source": "s", "kind": "review", "text": "Great phone.", **fields}).encode()


def _label(**fields) -> bytes:
    return json.dumps({"document_id": "d1", "task": "sentiment", "label": "positive", **fields}).encode()


HUGE_INTEGER = b"7" * 5_000  # json.loads raises a plain ValueError past 4,300 digits


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "not_json"),
        (b"", "not_json"),
        (b"\x80\x81 not utf-8", "not_utf8"),
        (b"{'id': 1}", "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        (b'"just a string"', "not_an_object"),
        (_doc(text=""), "empty_text"),
        (_doc(text="x" * 20_001), "oversize"),
        (b"{" + b" " * 2_000_000 + b"}", "oversize"),
        (_doc(id=7), "wrong_type"),
        (_doc(metadata={"k": 1}), "wrong_type"),
        (_doc(kind="tweet"), "schema"),
        (_doc(extra="field"), "schema"),
        (_doc()[:-1] + b', "n": ' + HUGE_INTEGER + b"}", "not_json"),
        (_doc(published_at="0001-01-01T00:00:00Z"), "schema"),  # DateTime64 holds 1900 to 2299
        (_doc(published_at="2300-01-01T00:00:00Z"), "schema"),
        (_doc(published_at="1900-01-01T00:30:00+01:00"), "schema"),  # 1899 in UTC
        (_doc(metadata={"note": "x" * METADATA_MAX_BYTES}), "schema"),
    ],
)
def test_every_bad_message_gets_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as caught:
        decode_document(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_label()[:-1] + b', "n": ' + HUGE_INTEGER + b"}", "not_json"),
        (b"[" * 100_000, "not_json"),
        (_label(labelled_at="0001-01-01T00:00:00Z"), "schema"),
        (_label(label="ecstatic"), "schema"),
    ],
)
def test_every_bad_label_gets_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as caught:
        decode_label(raw)
    assert caught.value.reason == reason


def test_whatever_a_decoder_raises_is_dead_lettered_and_the_rest_decoded():
    """The fault (a decoder raising something unforeseen) is injected; the processor is the real one."""
    sent: list[tuple[bytes | None, str, str]] = []

    async def dead_letter(message, reason, error, attempts, document_id) -> None:
        sent.append((message.value, reason, error))

    def decode(value: bytes | None) -> str:
        if value == b"bug":
            raise KeyError("a decoder bug")
        return decode_document(value).id

    messages = [
        Message("news", 0, offset, None, value, 0.0)
        for offset, value in enumerate([_doc(), b"bug", b"{", _doc(id="d2")])
    ]
    processor = BatchProcessor(classifiers={}, store=None, dead_letter=dead_letter, retry=RetryPolicy())
    try:
        decoded = asyncio.run(processor.decoded(messages, decode))
    finally:
        processor.close()
    assert [(message.offset, value) for message, value in decoded] == [(0, "d1"), (3, "d2")]
    assert [(value, reason) for value, reason, _ in sent] == [(b"bug", "decode_failed"), (b"{", "not_json")]
    assert "KeyError" in sent[0][2]


@pytest.mark.parametrize("seconds", [-(2**62) / 1000, 0.0, 2**62 / 1000])
def test_any_kafka_record_timestamp_becomes_a_storable_time(seconds):
    """A producer sets the record timestamp to any int64 of milliseconds; it is stored as enqueued_at."""
    enqueued_at = Message("labels", 0, 0, None, b"", seconds).enqueued_at
    assert 1900 <= enqueued_at.year <= 2299 and enqueued_at.utcoffset().total_seconds() == 0


def test_a_valid_message_decodes_to_a_document():
    document = decode_document(_doc(published_at="2026-11-28T10:00:00+01:00", lang="en"))
    assert (document.id, document.kind, document.lang) == ("d1", "review", "en")
    assert document.published_at.utcoffset().total_seconds() == 3600


def test_ddl_columns_match_the_insert_columns_and_label_order():
    create = ddl_statements()[0]
    declared = re.findall(r"^\s{4}(\w+)\s+\S", create.split("ENGINE")[0].split("PROJECTION")[0], flags=re.MULTILINE)
    assert tuple(declared) == COLUMNS
    for task in tasks():
        assert [
            c.removeprefix(f"{task.name}_")
            for c in COLUMNS
            if c.startswith(f"{task.name}_") and c not in (task.model_column, task.unscored_column)
        ] == list(task.labels)
    enums = {
        column: re.findall(r"'(\w+)' = \d+", values)
        for column, values in re.findall(r"^\s{4}(\w+)\s+Enum8\((.+)\),$", create, flags=re.MULTILINE)
    }
    assert enums == {"kind": list(get_args(DocumentKind)), **{task.name: list(task.labels) for task in tasks()}}
    sorting_key = re.search(r"^ORDER BY (.+)$", create, flags=re.MULTILINE).group(1)
    assert sorting_key.endswith(", id)") and "ingested_at" not in sorting_key  # dedup by id; never ingestion time


def test_the_text_limit_is_the_callers_not_a_settings_lookup(monkeypatch):
    """The worker's decoder, the schema and the publisher check a text against the limit they are
    given (BLOOMWATCH_MAX_TEXT_CHARS of their process), whatever the environment says meanwhile."""
    from bloomwatch.schemas import Document, text_limit
    from bloomwatch.settings import DEFAULT_MAX_TEXT_CHARS, Settings
    from streams.publisher import Publisher

    monkeypatch.setenv("BLOOMWATCH_MAX_TEXT_CHARS", "5")  # read by no validator
    twelve = {"id": "d1", "source": "s", "kind": "review", "text": "Great phone."}
    assert decode_document(json.dumps(twelve).encode()).text == "Great phone."  # the default limit
    with pytest.raises(InvalidMessage) as refused:
        decode_document(json.dumps(twelve).encode(), max_text_chars=11)
    assert refused.value.reason == "oversize" and "the limit is 11" in refused.value.detail
    with pytest.raises(ValueError, match="the limit is 11"):
        Document.model_validate(twelve, context=text_limit(11))
    assert len(Document(**{**twelve, "text": "x" * DEFAULT_MAX_TEXT_CHARS}).text) == DEFAULT_MAX_TEXT_CHARS

    publisher = Publisher(kafka=Settings().kafka, max_text_chars=11)  # validates without a broker
    for record in (twelve, Document.model_validate(twelve)):  # a record, or a Document built elsewhere
        with pytest.raises(ValueError, match="^text: .*the limit is 11"):
            publisher.validate(record)
    assert Publisher(kafka=Settings().kafka, max_text_chars=12).validate(twelve).text == "Great phone."


def test_the_batch_processor_decodes_against_the_limit_it_is_given():
    """Given BLOOMWATCH_MAX_TEXT_CHARS by the worker's app, not by a settings lookup: a text over it
    is dead-lettered as oversize (nothing valid is left, so nothing reaches the store)."""
    sent: list[tuple[bytes | None, str]] = []

    async def dead_letter(message, reason, error, attempts, document_id) -> None:
        sent.append((message.value, reason))

    processor = BatchProcessor(
        classifiers={}, store=None, dead_letter=dead_letter, retry=RetryPolicy(), max_text_chars=11
    )
    try:
        asyncio.run(processor.process([Message("reviews", 0, 0, None, _doc(), 0.0)]))
    finally:
        processor.close()
    assert sent == [(_doc(), "oversize")]

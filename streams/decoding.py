"""Turn a raw Kafka value into a Document, or say precisely why it cannot be one.

The worker consumes raw bytes (not a faust value serializer) so that every way a message can be
bad is caught here and sent to dead-letter with a reason, instead of crashing the agent or being
skipped inside a library.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from bloomwatch.json_input import NotJSON, parse_json
from bloomwatch.schemas import Document, LabelEvent, text_limit
from bloomwatch.settings import DEFAULT_MAX_TEXT_CHARS

ModelT = TypeVar("ModelT", bound=BaseModel)

# Reasons a message is dead-lettered before classification (a stable vocabulary: metrics label
# values and the dead-letter record's `reason`).
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_an_object"
EMPTY_TEXT = "empty_text"
OVERSIZE = "oversize"
WRONG_TYPE = "wrong_type"
SCHEMA = "schema"
# ...when the decoder itself raised something unforeseen (a bug, not the message's known fault):
# the message is dead-lettered all the same, never allowed to end the agent (BatchProcessor.decoded)...
DECODE_FAILED = "decode_failed"
# ...and after classification or storage kept failing for this one document.
PROCESSING_FAILED = "processing_failed"

# JSON escaping can blow one character up to 12 bytes (surrogate pairs); anything larger than this
# cannot hold a valid document and is rejected before it is parsed. The envelope holds every other
# field escaped the same way: metadata (METADATA_MAX_BYTES, 16 KiB) and id, source, lang and url
# (2,576 characters, 31 KiB).
_JSON_BYTES_PER_CHAR = 12
_ENVELOPE_BYTES = 64 * 1024


class InvalidMessage(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _json_object(raw: bytes | None, limit: int) -> dict:
    """The message value as a JSON object; raises InvalidMessage with a reason."""
    if raw is None:
        raise InvalidMessage(NOT_JSON, "message has no value (tombstone)")
    if len(raw) > limit * _JSON_BYTES_PER_CHAR + _ENVELOPE_BYTES:
        raise InvalidMessage(OVERSIZE, f"message has {len(raw)} bytes; text is limited to {limit} characters")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(NOT_UTF8, str(exc)) from None
    try:
        payload = parse_json(text)
    except NotJSON as exc:
        raise InvalidMessage(NOT_JSON, str(exc)) from None
    if not isinstance(payload, dict):
        raise InvalidMessage(NOT_AN_OBJECT, f"expected a JSON object, got {type(payload).__name__}")
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(payload)
    return payload


# A \uD800-\uDFFF escape: JSON lets one stand alone, but a lone surrogate is no character, so
# no UTF-8 encoder (the classifiers' tokenizer, ClickHouse's client) accepts the string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(payload: dict) -> None:
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidMessage(NOT_UTF8, f"a \\u escape decodes to a lone surrogate ({exc.reason})") from None


def _validated(model: type[ModelT], payload: dict, limit: int) -> ModelT:
    try:
        return model.model_validate(payload, context=text_limit(limit))
    except ValidationError as exc:
        raise InvalidMessage(_reason_of(exc), _summary_of(exc)) from None


def decode_document(raw: bytes | None, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> Document:
    """Parse and validate one message value; raises InvalidMessage with a reason. `max_text_chars`:
    the worker's BLOOMWATCH_MAX_TEXT_CHARS (BatchProcessor passes it)."""
    payload = _json_object(raw, max_text_chars)
    body = payload.get("text")
    if isinstance(body, str):
        if not body.strip():
            raise InvalidMessage(EMPTY_TEXT, "text is empty or whitespace")
        if len(body) > max_text_chars:
            raise InvalidMessage(OVERSIZE, f"text has {len(body)} characters; the limit is {max_text_chars}")
    return _validated(Document, payload, max_text_chars)


def decode_label(raw: bytes | None, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> LabelEvent:
    """A `labels` topic value as a LabelEvent; raises InvalidMessage with a reason."""
    return _validated(LabelEvent, _json_object(raw, max_text_chars), max_text_chars)


def _reason_of(exc: ValidationError) -> str:
    types = {error["type"] for error in exc.errors()}
    if any(t.endswith("_type") or t.endswith("_parsing") for t in types):
        return WRONG_TYPE
    return SCHEMA


def _summary_of(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}" for error in exc.errors()
    )

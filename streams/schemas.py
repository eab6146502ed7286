"""Message schemas, defined once: every publisher (CLI, HTTP, Python) and the worker validate with these."""

import base64
from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from bloomwatch.settings import get_settings
from training.labels import labels_for

DocumentKind = Literal["news", "review"]


class Document(BaseModel):
    """One news article or review. `id` is the idempotency key from the publisher to the table."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    kind: DocumentKind
    text: str
    published_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    lang: str | None = Field(default=None, max_length=16)
    url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _text_is_classifiable(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is empty or whitespace")
        limit = get_settings().max_text_chars
        if len(text) > limit:
            raise ValueError(f"text has {len(text)} characters; the limit is {limit} (BLOOMWATCH_MAX_TEXT_CHARS)")
        return text


class LabelEvent(BaseModel):
    """Human feedback on a document, the retraining job's input."""

    model_config = ConfigDict(extra="forbid")

    document_id: str = Field(min_length=1, max_length=256)
    task: Literal["sentiment", "topic"]
    label: str = Field(min_length=1)
    text: str | None = None  # lets a label arrive for a document that was never streamed
    annotator: str = "unknown"
    labelled_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _label_belongs_to_task(self) -> "LabelEvent":
        """A label outside the task's fixed set would poison retraining: reject it at the door."""
        known = labels_for(self.task)
        if self.label not in known:
            raise ValueError(f"label {self.label!r} is not a {self.task} label ({', '.join(known)})")
        return self


def _preview(value: bytes | None, chars: int) -> str:
    """The head of a value as text; undecodable bytes become U+FFFD instead of failing."""
    if value is None:
        return ""
    return value[: chars * 4].decode("utf-8", errors="replace")[:chars]


class DeadLetter(BaseModel):
    """A message that could not be stored, with why: the dead-letter topic's value.

    The original bytes are kept exactly (base64) so the message can be replayed after a fix, even
    when they are not UTF-8 or not JSON; `value_preview` is the human-readable head of them.
    """

    model_config = ConfigDict(extra="forbid")

    topic: str
    partition: int
    offset: int
    key: str | None  # decoded with replacement characters, for display and search
    key_b64: str | None
    value_b64: str | None
    value_bytes: int
    value_preview: str
    document_id: str | None = None  # when the value parsed far enough to have one
    reason: str
    error_type: str
    attempts: int = Field(ge=1)
    failed_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    PREVIEW_CHARS: ClassVar[int] = 500

    @classmethod
    def for_message(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        error_type: str,
        attempts: int = 1,
        document_id: str | None = None,
    ) -> "DeadLetter":
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=None if key is None else key.decode("utf-8", errors="replace"),
            key_b64=None if key is None else base64.b64encode(key).decode("ascii"),
            value_b64=None if value is None else base64.b64encode(value).decode("ascii"),
            value_bytes=0 if value is None else len(value),
            value_preview=_preview(value, cls.PREVIEW_CHARS),
            document_id=document_id,
            reason=reason,
            error_type=error_type,
            attempts=attempts,
        )

    def original_value(self) -> bytes | None:
        """The exact bytes that failed, for replaying them."""
        return None if self.value_b64 is None else base64.b64decode(self.value_b64)

"""Message schemas, defined once: every publisher (CLI, HTTP, Python) and the worker validate with these."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bloomwatch.settings import get_settings

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

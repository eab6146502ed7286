"""Message schemas, defined once: every publisher (CLI, HTTP, Python) and the worker validate with these."""

import base64
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from bloomwatch.settings import DEFAULT_MAX_TEXT_CHARS
from bloomwatch.tasks import labels_for, task, tasks
from bloomwatch.timestamps import StorableTime

DocumentKind = Literal["news", "review"]
# Of a document's metadata as JSON with every non-ASCII character escaped (its largest encoding):
# bounded so that every valid document fits one Kafka message and passes the worker's size check
# (streams/decoding.py), instead of being accepted here and dead-lettered there.
METADATA_MAX_BYTES = 16 * 1024


MAX_TEXT_CHARS = "max_text_chars"  # the validation context's key of a text's limit


def text_limit(max_text_chars: int) -> dict[str, int]:
    """The validation context that checks a Document's text against `max_text_chars`
    (BLOOMWATCH_MAX_TEXT_CHARS of the process validating it); without one, the default limit."""
    return {MAX_TEXT_CHARS: max_text_chars}


def classifiable_text(text: str, limit: int) -> str:
    """`text` if a classifier takes it (not blank, at most `limit` characters), else ValueError."""
    if not text.strip():
        raise ValueError("text is empty or whitespace")
    if len(text) > limit:
        raise ValueError(f"text has {len(text)} characters; the limit is {limit} (BLOOMWATCH_MAX_TEXT_CHARS)")
    return text


class Document(BaseModel):
    """One news article or review. `id` is the idempotency key from the publisher to the table."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    kind: DocumentKind
    text: str
    published_at: StorableTime = Field(default_factory=lambda: datetime.now(UTC))
    lang: str | None = Field(default=None, max_length=16)
    url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _metadata_is_bounded(cls, metadata: dict[str, str]) -> dict[str, str]:
        size = len(json.dumps(metadata))
        if size > METADATA_MAX_BYTES:
            raise ValueError(f"metadata is {size} bytes as JSON; the limit is {METADATA_MAX_BYTES}")
        return metadata

    @field_validator("text")
    @classmethod
    def _text_is_classifiable(cls, text: str, info: ValidationInfo) -> str:
        """The limit is the validating process's (`Document.model_validate(..., context=text_limit(n))`)."""
        return classifiable_text(text, (info.context or {}).get(MAX_TEXT_CHARS, DEFAULT_MAX_TEXT_CHARS))


class TaskScore(BaseModel):
    """One classifier's verdict on a stored document, or why there is none (`unscored`, a
    bloomwatch.tasks.Unscored reason, with no label, probabilities or model)."""

    label: str | None
    probs: dict[str, float]
    model: str | None  # registry version that scored it, e.g. sentiment-v3
    unscored: str | None = None


class _AsStored(Document):
    """A Document as stored: its text and metadata are returned as they are, whatever today's limits."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("text")
    @classmethod
    def _text_is_classifiable(cls, text: str, info: ValidationInfo) -> str:
        """Replaces Document's check: a stored text is returned as stored, whatever today's limit."""
        return text

    @field_validator("metadata")
    @classmethod
    def _metadata_is_bounded(cls, metadata: dict[str, str]) -> dict[str, str]:
        """Replaces Document's check, as for the text."""
        return metadata


# A row of `documents` as the read API and `bloomwatch documents` return it: one TaskScore per task
# of the table, under the task's name (`"sentiment": {...}, "topic": {...}`).
_TASK_SCORES: dict[str, Any] = {scored.name: (TaskScore, ...) for scored in tasks()}
if TYPE_CHECKING:

    class StoredDocument(_AsStored):
        """What a type checker sees of the model built below (its fields depend on the task table,
        read at import): the fixed fields; a task's score is read by name, `getattr(document, task.name)`."""

        enqueued_at: AwareDatetime
        ingested_at: AwareDatetime
        detected_lang: str
        lang_confidence: float

else:
    StoredDocument = create_model(
        "StoredDocument",
        __base__=_AsStored,
        __module__=__name__,
        published_at=(AwareDatetime, ...),  # as stored, like `text` and `metadata`, whatever today's limits
        enqueued_at=(AwareDatetime, ...),  # Kafka record timestamp
        ingested_at=(AwareDatetime, ...),  # when the worker wrote the row
        **_TASK_SCORES,
        detected_lang=(str, ...),  # read from the text (bloomwatch/language.py): ISO 639-1, or und when unsure
        lang_confidence=(float, ...),
    )

ALL_LABELS = tuple(dict.fromkeys(label for scored in tasks() for label in scored.labels))


class DocumentQuery(BaseModel):
    """A document search (`GET /api/documents/search`, `bloomwatch documents search`); all filters AND.

    `q` is a case-insensitive substring of the text; `from`/`to` bound `published_at` (from
    inclusive, to exclusive); `label` is a label of any task (a document matches when one of its
    tasks gave it that label); `lang` is the language read from the text (ISO 639-1, `und` for
    undetermined), not the publisher's declared one.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str | None = Field(default=None, min_length=1, max_length=1000)
    source: str | None = Field(default=None, min_length=1, max_length=256)
    kind: DocumentKind | None = None
    since: StorableTime | None = Field(default=None, alias="from")
    until: StorableTime | None = Field(default=None, alias="to")
    label: Literal[ALL_LABELS] | None = None  # type: ignore[valid-type]
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    limit: int = Field(default=50, ge=1, le=1000)

    @model_validator(mode="after")
    def _range_is_ordered(self) -> "DocumentQuery":
        if self.since and self.until and self.since >= self.until:
            raise ValueError("`from` must be before `to`")
        return self


def _known_task(name: str) -> str:
    task(name)  # UnknownTask (a ValueError) names the known ones
    return name


TaskName = Annotated[str, AfterValidator(_known_task)]  # a task of the table (bloomwatch/tasks.py)


class LabelEvent(BaseModel):
    """Human feedback on a document, the retraining job's input."""

    model_config = ConfigDict(extra="forbid")

    document_id: str = Field(min_length=1, max_length=256)
    task: TaskName
    label: str = Field(min_length=1)
    text: str | None = None  # lets a label arrive for a document that was never streamed
    annotator: str = "unknown"
    labelled_at: StorableTime = Field(default_factory=lambda: datetime.now(UTC))

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

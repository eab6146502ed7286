"""The wire formats of `/classify` (vLLM's own) and `/v1/models`; the prediction callers get back
from them is bloomwatch/prediction.py.

Both servers (embedded and vLLM) speak exactly vLLM's request/response JSON, so these models are
the single definition of that contract: the embedded server validates requests with them and the
client parses responses with them. `/v1/models` entries carry BloomWatch's `languages` beside
vLLM's fields; an answer without them (an older server, plain vLLM) is a model that reads English,
as a manifest without them is.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from training.registry import DEFAULT_LANGUAGES


class ClassificationRequest(BaseModel):
    """vLLM's `/classify` request. Unknown fields are accepted (vLLM has many) but ignored."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: StrictStr | list[StrictStr]
    use_activation: bool | None = None
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)
    truncation_side: Literal["left", "right"] | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class ClassificationData(BaseModel):
    index: int
    label: str
    probs: list[float]
    num_classes: int


class UsageInfo(BaseModel):
    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: dict | None = None


class ClassificationResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = ""
    object: str = "list"
    created: int = 0
    model: str
    data: list[ClassificationData]
    usage: UsageInfo = Field(default_factory=UsageInfo)


class ModelCard(BaseModel):
    """One entry of `/v1/models`."""

    model_config = ConfigDict(extra="allow")

    id: str
    languages: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    line: str = ""  # training/registry.py: "" is the task's main line


class ModelList(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "list"
    data: list[ModelCard]

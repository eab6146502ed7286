"""The dashboard API's query parameters: parsed and validated by pydantic, checked against known values.

Only values that exist are accepted (a 400 names the unknown value and the known ones), so a
filter can never be anything but a plain string compared through a server-side parameter.
Times are ISO 8601 or epoch milliseconds: alert notifications link with either. Every task of the
table (bloomwatch.tasks) filters by its labels under its own name (`?topic=world`): those are the
model's extra fields, accepted for the table's task names only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from multidict import MultiMapping
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bloomwatch.tasks import task_names
from bloomwatch.timestamps import as_utc, storable
from dashboards.queries import dimensions, fixed_values

DEFAULT_RANGE = timedelta(hours=1)
MAX_RANGE = timedelta(days=400)
MAX_POINTS = 240  # buckets per chart at most
BUCKETS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)


class InvalidFilter(ValueError):
    """A parameter the API refuses (answered with 400 and this message)."""


def _parse_time(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError):  # 20 or 400 digits: no datetime at all
            raise ValueError(f"{len(value.strip())}-digit epoch milliseconds are no storable time") from None
    return value


Time = Annotated[datetime, BeforeValidator(_parse_time), AfterValidator(storable)]
Values = list[Annotated[str, Field(min_length=1, max_length=256)]]


class Filters(BaseModel):
    """Filters shared by every panel; `limit`/`offset` page the documents table."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    __pydantic_extra__: dict[str, Values] = Field(init=False)  # task name -> labels kept

    start: Time | None = Field(None, alias="from")
    end: Time | None = Field(None, alias="to")
    source: Values = []
    kind: Values = []
    lang: Values = []
    q: str = Field("", max_length=200)
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        """Extra fields are the tasks' filters: any other name is an unknown parameter."""
        parameters = [field.alias or name for name, field in cls.model_fields.items()] + list(task_names())
        for name in data if isinstance(data, dict) else ():
            if name not in parameters and name not in cls.model_fields:
                raise ValueError(f"unknown parameter {name!r}; known: {', '.join(parameters)}")
        return data

    @model_validator(mode="after")
    def _range(self) -> Filters:
        self.end = as_utc(self.end) if self.end else datetime.now(UTC)
        self.start = as_utc(self.start) if self.start else self.end - DEFAULT_RANGE
        if self.start >= self.end:
            raise ValueError("'from' must be before 'to'")
        if self.end - self.start > MAX_RANGE:
            raise ValueError(f"the time range is limited to {MAX_RANGE.days} days")
        return self

    @property
    def bucket_s(self) -> int:
        assert self.start is not None and self.end is not None  # _range sets both on validation
        span = (self.end - self.start).total_seconds()
        return next((b for b in BUCKETS_S if span / b <= MAX_POINTS), BUCKETS_S[-1])

    def chosen(self, dimension: str) -> list[str]:
        """The values a dimension is filtered to (none: every value)."""
        if dimension in type(self).model_fields:
            return getattr(self, dimension)
        return (self.model_extra or {}).get(dimension, [])

    def check_known(self, known: Mapping[str, Sequence[str]]) -> None:
        """400 on a value that no document has (or that the schema or the task table does not allow)."""
        fixed = fixed_values()
        for name in dimensions():
            allowed = fixed.get(name) or known.get(name, ())
            unknown = [value for value in self.chosen(name) if value not in allowed]
            if unknown:
                raise InvalidFilter(f"unknown {name} {unknown[0]!r}; known: {', '.join(allowed) or '(none yet)'}")

    def parameters(self) -> dict[str, Any]:
        """Server-side query parameters (dashboards.queries.PARAMETERS)."""
        return {
            "from": self.start,
            "to": self.end,
            "bucket_s": self.bucket_s,
            **{name: self.chosen(name) for name in dimensions()},
            "q": self.q,
            "limit": self.limit,
            "offset": self.offset,
        }


def parse_filters(query: MultiMapping[str]) -> Filters:
    """Filters from a query string; repeated parameters (`?source=a&source=b`) select several values."""
    multi_valued = dimensions()
    raw: dict[str, Any] = {}
    for key in query:
        values = query.getall(key)
        raw[key] = values if key in multi_valued else values[-1]
    try:
        return Filters.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "query"
        raise InvalidFilter(f"{where}: {first['msg']}") from None

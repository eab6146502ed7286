"""Query-string parameters of the worker's API, parsed into what the store's typed parameters hold.

A value that Python parses but ClickHouse's parameter type cannot hold (a negative or 20-digit
`UInt32`, a time before 1900) used to fail inside the query and answer 500; here it is a
`BadQuery`, which the routes answer with 400 and its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from bloomwatch.timestamps import StorableTime

UINT32_MAX = 2**32 - 1
_TIME = TypeAdapter(StorableTime)


class BadQuery(ValueError):
    """A parameter the API refuses: answered with 400 and this message."""


def query_int(query: Mapping[str, str], name: str, default: int, *, maximum: int = UINT32_MAX) -> int:
    """`query[name]` (or `default`) as an integer from 1 to `maximum`."""
    raw = query.get(name, str(default)).lstrip("0")
    # digits only, and few enough that int() cannot raise (it refuses over 4,300 of them)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum))) or not 1 <= int(raw) <= maximum:
        raise BadQuery(f"{name} must be an integer from 1 to {maximum}")
    return int(raw)


def query_time(query: Mapping[str, str], name: str) -> datetime:
    """`query[name]` as an ISO 8601 time with a time zone that ClickHouse can store."""
    if name not in query:
        raise BadQuery(f"{name} is required: an ISO 8601 time with a time zone")
    try:
        return _TIME.validate_python(query[name])
    except ValidationError as exc:
        raise BadQuery(f"{name}: {exc.errors(include_url=False)[0]['msg']}") from None

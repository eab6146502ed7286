"""What a store failure means to its caller, so no caller needs the driver's exception classes."""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, ProgrammingError

from bloomwatch.errors import ExpectedError


class StoreUnreachable(ExpectedError, RuntimeError):
    """The embedded store's owner (the worker) does not answer."""


def store_refused(exc: BaseException) -> bool:
    """ClickHouse answered a call with an error of its own (a server or chDB engine error, not one the
    client raised while encoding the rows or building the query): the store's fault, not the data's,
    so retrying the same rows is right and blaming them is not. Anything else is retryable and, if it
    lasts while the store is healthy, may be the data's."""
    return isinstance(exc, DatabaseError) and not isinstance(exc, (DataError, ProgrammingError))

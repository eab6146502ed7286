"""Every time BloomWatch accepts fits ClickHouse's DateTime64; every time it reads back is aware.

The tables use `DateTime64(3, 'UTC')`, whose supported range is 1900-01-01 00:00:00 to 2299-12-31
23:59:59.999. Outside it a server's behaviour depends on its version (chDB's engine 26.9 stores
year 1 as given), and times at the edge of Python's own range break the readers: a label dated
0001-01-01 came back as a naive datetime of year 1, converting it to UTC through local time
raised "year 0 is out of range", and every later read of its task answered 500. So the range is
checked where a time comes in: the schemas and query parameters (`StorableTime`, a 400 or a
rejection naming the range) and Kafka record timestamps, which any producer may set
(`record_time`, clamped: the record is still stored). Times read back go through `as_utc`,
which never converts through local time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC time; a naive one (clickhouse-connect may return those) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def storable(moment: datetime) -> datetime:
    """`moment` unchanged if ClickHouse can store it (naive = UTC); else ValueError naming the range."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:  # compared without converting: 0001-01-01+01:00 has no UTC year
        raise ValueError(
            f"{moment.isoformat()} is outside the range ClickHouse's DateTime64 supports ({EARLIEST.date()} to {LATEST.date()}, UTC)"
        )
    return moment


StorableTime = Annotated[AwareDatetime, AfterValidator(storable)]


def record_time(seconds: float) -> datetime:
    """A Kafka record timestamp (seconds since the epoch; the producer may set any int64 of
    milliseconds) as a UTC time, clamped into the storable range."""
    if seconds <= EARLIEST.timestamp():
        return EARLIEST
    if seconds >= LATEST.timestamp():
        return LATEST
    return datetime.fromtimestamp(seconds, UTC)

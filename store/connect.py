"""Opening the store, and the one decision of who may open it.

`chdb:///abs/dir` runs the ClickHouse engine inside this process, and one process may own a
directory: the worker owns an embedded store, and every other process reads through the worker's
API. `http(s)://` is a ClickHouse server that any number of processes query themselves.
"""

from __future__ import annotations

from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from bloomwatch.setting_groups import StoreSettings

EMBEDDED_SCHEME = "chdb:"
# what every store class (DocumentStore, RetrainStore, AlertStore, the dashboards' DashboardData) is given
StoreClient = Client


def is_embedded(store: StoreSettings) -> bool:
    """Whether the store is chDB inside the worker (reads go through the worker's API) rather than a
    ClickHouse server (every process connects itself)."""
    return store.clickhouse_dsn.startswith(EMBEDDED_SCHEME)


def connect(store: StoreSettings) -> StoreClient:
    """A client of this deployment's store (BLOOMWATCH_CLICKHOUSE_DSN; Settings fills in its default,
    chDB under the home, when unset)."""
    return open_client(store.clickhouse_dsn)


def open_client(dsn: str) -> StoreClient:
    """A client of the store at `dsn`: for a process given a DSN rather than settings (a test's or a
    benchmark's helper process)."""
    return clickhouse_connect.get_client(dsn=dsn)


def command_count(client: StoreClient, sql: str, parameters: dict[str, Any] | None = None) -> int:
    """The number a counting command answers (`SELECT count() ...`). clickhouse_connect types
    `command` for every kind of answer (a value, a row, a summary); one number comes back an int."""
    answer = client.command(sql, parameters=parameters)
    if not isinstance(answer, int | str):
        raise TypeError(f"expected one number from {sql!r}, got {answer!r}")
    return int(answer)

"""Opening the store, and the one decision of who may open it.

`chdb:///abs/dir` runs the ClickHouse engine inside this process, and one process may own a
directory: the worker owns an embedded store, and every other process reads through the worker's
API. `http(s)://` is a ClickHouse server that any number of processes query themselves.
"""

from __future__ import annotations

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from bloomwatch.settings import Settings

EMBEDDED_SCHEME = "chdb:"
# what every store class (DocumentStore, RetrainStore, AlertStore, the dashboards' DashboardData) is given
StoreClient = Client


def is_embedded(settings: Settings) -> bool:
    """Whether the store is chDB inside the worker (reads go through the worker's API) rather than a
    ClickHouse server (every process connects itself)."""
    return _dsn(settings).startswith(EMBEDDED_SCHEME)


def connect(settings: Settings) -> StoreClient:
    """A client of this deployment's store."""
    return open_client(_dsn(settings))


def _dsn(settings: Settings) -> str:
    """BLOOMWATCH_CLICKHOUSE_DSN; Settings fills in its default, chDB under the home, when unset."""
    return str(settings.clickhouse_dsn)


def open_client(dsn: str) -> StoreClient:
    """A client of the store at `dsn`: for a process given a DSN rather than settings (a test's or a
    benchmark's helper process)."""
    return clickhouse_connect.get_client(dsn=dsn)

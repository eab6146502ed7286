"""Runs the panel queries (dashboards.queries) with server-side parameters and shapes the results.

Synchronous on purpose: in embedded mode the worker's single ClickHouse thread calls these
(`processor.store_thread`, store/executor.py), because one chDB engine serves one caller at a time; `bloomwatch
dashboard` runs them on its own thread against a ClickHouse server.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, date, datetime
from typing import Any

from bloomwatch.csv_cells import write_csv
from dashboards.filters import Filters
from dashboards.queries import FILTER_VALUES_SQL, PARAMETERS, panels

# Panels the page does not draw on every refresh: the documents table pages on its own and the
# models in use come with the pipeline health (/api/dashboard/health).
NOT_ON_PAGE = ("documents", "models_in_use")
KNOWN_VALUES_TTL_S = 5.0


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)  # epoch ms: what the charts plot
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN (0/0) is not JSON
        return None
    return value


class DashboardData:
    def __init__(self, client):
        self.client = client  # clickhouse_connect client; used from one thread only
        self._known: tuple[float, dict[str, list[str]]] | None = None

    def query(self, panel: str, filters: Filters) -> dict[str, list[Any]]:
        """One panel as columns: {column name: [values...]}."""
        sql, parameters = panels()[panel][1](PARAMETERS), filters.parameters()
        result = self.client.query(sql, parameters=parameters)
        if not result.column_names:  # an empty result carries no column names (chDB): ask for them
            names = [row[0] for row in self.client.query(f"DESCRIBE ({sql})", parameters=parameters).result_rows]
            return {name: [] for name in names}
        return {
            name: [_jsonable(v) for v in column]
            for name, column in zip(result.column_names, result.result_columns, strict=True)
        }

    def known_values(self) -> dict[str, list[str]]:
        """Sources and languages present in the data (cached briefly: every request validates)."""
        now = time.monotonic()
        if self._known is None or now - self._known[0] > KNOWN_VALUES_TTL_S:
            sources, langs = self.client.query(FILTER_VALUES_SQL).result_rows[0]
            self._known = (now, {"source": list(sources), "lang": list(langs)})
        return self._known[1]

    def page(self, filters: Filters) -> dict[str, Any]:
        """Everything one refresh of the page draws, in one call (one trip to the store thread)."""
        filters.check_known(self.known_values())
        started = time.perf_counter()
        drawn = {name: self.query(name, filters) for name in panels() if name not in NOT_ON_PAGE}
        return {
            "from": _jsonable(filters.start),
            "to": _jsonable(filters.end),
            "bucket_s": filters.bucket_s,
            "panels": drawn,
            "query_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def documents(self, filters: Filters) -> dict[str, Any]:
        filters.check_known(self.known_values())
        return {"offset": filters.offset, "limit": filters.limit, "rows": self.query("documents", filters)}

    def documents_csv(self, filters: Filters) -> str:
        columns = self.documents(filters)["rows"]
        columns["published_at"] = [datetime.fromtimestamp(ms / 1000, UTC).isoformat() for ms in columns["published_at"]]
        out = io.StringIO()
        write_csv(out, list(columns), zip(*columns.values(), strict=True))  # publishers' text: no formulas
        return out.getvalue()

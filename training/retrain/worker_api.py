"""The retraining job's view of an embedded store: the worker's HTTP API (streams/retrain_api.py).

In embedded mode the worker owns the chDB directory, so this process cannot open it and goes
through the worker; with a ClickHouse server the job queries it itself (source.ClickHouseSource).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx


class WorkerAPI:
    def __init__(self, base_url: str, timeout_s: float = 120.0, headers: dict[str, str] | None = None):
        self.base_url = base_url
        self.where = f"the worker's API at {base_url}"
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s, headers=headers)  # headers: the API token

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def labels(self, task: str) -> list[dict[str, Any]]:
        """Every label of `task`, a page at a time: the worker bounds each read."""
        rows: list[dict[str, Any]] = []
        after: str | None = ""
        while after is not None:
            page = self._get("/api/labels", task=task, after=after)
            rows += page["labels"]
            after = page.get("next_after")
        return rows

    def unlabelled(self, task: str, pool: int) -> list[dict[str, Any]]:
        return self._get("/api/retrain/documents", task=task, pool=pool)["documents"]

    def prediction_summary(self, task: str, model: str, since: datetime, until: datetime) -> dict[str, dict]:
        return self._get(
            "/api/predictions/summary", task=task, model=model, since=since.isoformat(), until=until.isoformat()
        )["sources"]

    def decisions(self, task: str) -> list[dict[str, Any]]:
        return self._get("/api/model-versions", task=task)["decisions"]

    def record(self, row: dict[str, Any]) -> None:
        self.http.post("/api/model-versions", json=row).raise_for_status()

    def close(self) -> None:
        self.http.close()

"""Where the retraining job reads labels and predictions and writes its audit rows, chosen by the DSN.

Embedded (`chdb://`, store/connect.py `is_embedded`): the worker owns the chDB directory, so the job
goes through the worker's API (worker_api.WorkerAPI). Server mode (`http(s)://` ClickHouse): the job
queries ClickHouse itself (ClickHouseSource) and needs no worker to be up. Both run the same SQL,
store/retraining.py: the worker's API serves exactly those RetrainStore methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bloomwatch.access import client_headers
from bloomwatch.settings import Settings
from store.connect import connect, is_embedded
from store.retraining import RetrainStore
from training.retrain.worker_api import WorkerAPI


class RetrainSource(Protocol):
    where: str  # for logs: what the job reads from and records to

    def labels(self, task: str) -> list[dict[str, Any]]: ...

    def unlabelled(self, task: str, pool: int) -> list[dict[str, Any]]: ...

    def prediction_summary(self, task: str, model: str, since: datetime, until: datetime) -> dict[str, dict]: ...

    def decisions(self, task: str) -> list[dict[str, Any]]: ...

    def record(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ClickHouseSource:
    """RetrainStore on the job's own client (server mode: many processes may share a server)."""

    def __init__(self, settings: Settings):
        self.store = RetrainStore(connect(settings.store))
        self.where = f"ClickHouse at {settings.clickhouse_where}"  # no credentials in logs

    def labels(self, task: str) -> list[dict[str, Any]]:
        return self.store.labelled_examples(task)

    def unlabelled(self, task: str, pool: int) -> list[dict[str, Any]]:
        return self.store.unlabelled_predictions(task, pool)

    def prediction_summary(self, task: str, model: str, since: datetime, until: datetime) -> dict[str, dict]:
        return self.store.prediction_summary(task, model, since, until)

    def decisions(self, task: str) -> list[dict[str, Any]]:
        return self.store.decisions(task)

    def record(self, row: dict[str, Any]) -> None:
        self.store.record_decision(row)

    def close(self) -> None:
        self.store.client.close()


def open_source(settings: Settings, worker_url: str | None = None) -> RetrainSource:
    """The worker's API in embedded mode (at `worker_url`, default the settings' worker), else ClickHouse."""
    if is_embedded(settings.store):
        return WorkerAPI(worker_url or settings.worker_url, headers=client_headers(settings.access))
    return ClickHouseSource(settings)

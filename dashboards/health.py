"""Pipeline health from the worker's Prometheus metrics, and the models in use with their figures.

Both deployments read the same exposition text: the embedded worker renders its own process
registry (streams.metrics.REGISTRY), `bloomwatch dashboard` fetches a worker's /metrics.
Throughput is the stored-documents counter's rate between two reads; the first read has none
before it and takes the counter's start instead (its `_created` time, when it stood at 0).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bloomwatch.tasks import tasks
from training.registry import Registry

_TOTALS = {
    "consumed": "bloomwatch_documents_consumed",
    "stored": "bloomwatch_documents_stored",
    "dead_lettered": "bloomwatch_documents_dead_lettered",
    "retries": "bloomwatch_batch_retries",
    "consumer_lag": "bloomwatch_consumer_lag",
}


class PipelineHealth:
    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None  # (monotonic time, stored total)

    def read(self, exposition: str) -> dict[str, Any]:
        sums = dict.fromkeys(_TOTALS.values(), 0.0)
        stored_since = None  # epoch seconds: when the first stored-documents series was created
        for family in text_string_to_metric_families(exposition):
            if family.name in sums:
                sums[family.name] += sum(s.value for s in family.samples if not s.name.endswith("_created"))
            created = [s.value for s in family.samples if s.name == f"{_TOTALS['stored']}_created"]
            stored_since = min(created, default=stored_since)
        figures: dict[str, Any] = {key: sums[name] for key, name in _TOTALS.items()}
        now, wall = time.monotonic(), time.time()
        figures["throughput_per_s"] = None
        if self._last is not None and now > self._last[0]:
            figures["throughput_per_s"] = max(0.0, (figures["stored"] - self._last[1]) / (now - self._last[0]))
        elif stored_since is not None and wall > stored_since:
            figures["throughput_per_s"] = figures["stored"] / (wall - stored_since)
        self._last = (now, figures["stored"])
        return figures


def model_figures(registry_dir, in_use: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """One entry per model version seen in the documents, with the registry's held-out figures."""
    registry = Registry(registry_dir)
    seen: dict[tuple[str, str], tuple[int, int]] = {}  # (task, model) -> (documents, last seen)
    for i, documents in enumerate(in_use["documents"]):
        for task in tasks():
            key = (task.name, in_use[task.model_column][i])
            if not key[1]:  # stored before the task was added to the table: no model scored them
                continue
            count, last = seen.get(key, (0, 0))
            seen[key] = (count + documents, max(last, in_use["last_seen"][i]))
    rows = []
    for (task, name), (documents, last_seen) in sorted(seen.items()):
        version = name.removeprefix(f"{task}-")
        entry: dict[str, Any] = {
            "task": task,
            "model": name,
            "documents": documents,
            "last_seen": last_seen,
            "evaluation": {},
        }
        try:
            model = registry.get(task, version)
        except (KeyError, ValueError):
            entry["registry"] = "not in this registry"
        else:
            entry["current"] = version in registry.current_versions(task).values()
            for source, scores in model.test_scores.items():
                entry["evaluation"][source] = {k: scores.get(k) for k in ("n", "acc", "macro_f1")}
        rows.append(entry)
    return rows

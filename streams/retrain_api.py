"""The worker's read/write API for the retraining job and the annotators (it owns the store).

GET  /api/labels?task=                      every label with its text and source (training data)
GET  /api/labels/queue?task=&n=&by=&pool=   active-learning queue (training/retrain/queue.py)
GET  /api/predictions/summary?task=&model=&since=&until=   per-source predicted-label counts and
                                            mean confidence of one model over a window (drift)
GET  /api/model-versions?task=              the retraining audit, latest first
POST /api/model-versions                    record one decision (the retraining job's audit row)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import faust
from faust.web import View

from streams.retrain_store import AUDIT_COLUMNS, RetrainStore
from training.labels import TASKS
from training.retrain.queue import STRATEGIES, select_for_labelling

RunStore = Callable[..., Awaitable[Any]]
QUEUE_POOL = 5000  # recent unlabelled documents the queue ranks by default


class BadQuery(ValueError):
    pass


def _task(request, required: bool = True) -> str | None:
    task = request.query.get("task")
    if task is None and not required:
        return None
    if task not in TASKS:
        raise BadQuery(f"task must be one of {', '.join(TASKS)}")
    return task


def _int(request, name: str, default: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if value < 1:
        raise BadQuery(f"{name} must be at least 1")
    return value


def _time(request, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(request.query[name])
    except (KeyError, ValueError):
        raise BadQuery(f"{name} must be an ISO 8601 time with a time zone") from None
    if value.tzinfo is None:
        raise BadQuery(f"{name} must carry a time zone")
    return value


def add_retrain_routes(app: faust.App, run_store: RunStore, store: RetrainStore) -> None:
    def guarded(handler):
        async def page(web, request):
            try:
                return web.json(await handler(request))
            except BadQuery as exc:
                return web.json({"error": str(exc)}, status=400)

        page.__name__ = handler.__name__  # faust names the view class after it
        return page

    async def labels(request):
        task = _task(request)
        rows = await run_store(store.labelled_examples, task)
        return {"task": task, "count": len(rows), "labels": rows}

    async def queue(request):
        task, n, by = _task(request), _int(request, "n", 50), request.query.get("by", "margin")
        if by not in STRATEGIES:
            raise BadQuery(f"by must be one of {', '.join(STRATEGIES)}")
        candidates = await run_store(store.unlabelled_predictions, task, _int(request, "pool", QUEUE_POOL))
        return {"task": task, "by": by, "items": select_for_labelling(candidates, n, by)}

    async def predictions(request):
        task, model = _task(request), request.query.get("model", "")
        summary = await run_store(store.prediction_summary, task, model, _time(request, "since"), _time(request, "until"))
        return {"task": task, "model": model, "sources": summary}

    app.page("/api/labels")(guarded(labels))
    app.page("/api/labels/queue")(guarded(queue))
    app.page("/api/predictions/summary")(guarded(predictions))

    @app.page("/api/model-versions")
    class ModelVersions(View):
        async def get(self, request):
            try:
                task = _task(request, required=False)
            except BadQuery as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"decisions": await run_store(store.decisions, task)})

        async def post(self, request):
            row = await request.json()
            missing = [c for c in AUDIT_COLUMNS if c not in row]
            if missing or row.get("task") not in TASKS:
                return self.json({"error": f"missing fields {missing} or unknown task"}, status=400)
            await run_store(store.record_decision, row)
            return self.json({"recorded": row["run_id"]})

"""The worker's read/write API for the retraining job and the annotators (it owns the store).

GET  /api/labels?task=&after=&limit=        labels with their text and source (training data), by
                                            document_id, a page at a time: `next_after` is the
                                            `after` of the next page (null: the last page)
GET  /api/labels/queue?task=&n=&by=&pool=   active-learning queue (training/retrain/queue.py)
GET  /api/retrain/documents?task=&pool=    the `pool` most recent unlabelled documents with their
                                            scores and model (a retrain's rehearsal and fixed test
                                            where the original training data is absent)
GET  /api/predictions/summary?task=&model=&since=&until=   per-source predicted-label counts and
                                            mean confidence of one model over a window (drift)
GET  /api/model-versions?task=              the retraining audit, latest first
POST /api/model-versions                    record one decision (the retraining job's audit row)

Every read is bounded (400 beyond the bounds): the worker runs them on its one store thread,
where an unbounded one would hold every insert behind it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, overload

import faust
from faust.web import Request, View
from pydantic import BaseModel, Field, ValidationError

from bloomwatch.json_input import NotJSON, parse_json
from bloomwatch.schemas import TaskName
from bloomwatch.tasks import task_names
from bloomwatch.timestamps import StorableTime
from store.executor import StoreThread
from store.retraining import RetrainStore
from streams.publisher import validation_reason
from streams.query_params import UINT32_MAX, BadQuery, query_int, query_time
from training.retrain.queue import STRATEGIES, select_for_labelling

QUEUE_POOL = 5000  # recent unlabelled documents the queue ranks by default ...
QUEUE_POOL_MAX = 50_000  # ... and at most
QUEUE_N_MAX = 1000  # documents one queue request returns at most
LABELS_PAGE = 1000  # labels per /api/labels page by default ...
LABELS_PAGE_MAX = 10_000  # ... and at most


@overload
def _task(request: Request, required: Literal[True] = True) -> str: ...
@overload
def _task(request: Request, required: bool) -> str | None: ...
def _task(request: Request, required: bool = True) -> str | None:
    task = request.query.get("task")
    if task is None and not required:
        return None
    if task not in task_names():
        raise BadQuery(f"task must be one of {', '.join(task_names())}")
    return task


Count = Annotated[int, Field(ge=0, le=UINT32_MAX)]


class AuditDecision(BaseModel):
    """The body of POST /api/model-versions: one `model_versions` row (store/ddl.sql), typed as
    the table is, so that a body ClickHouse would refuse gets a 400 naming the field, not a 500."""

    run_id: str = Field(min_length=1)
    task: TaskName
    version: str
    parent: str
    trigger: str
    decision: str
    reason: str
    labels_total: Count
    labels_train: Count
    labels_holdout: Count
    replay_examples: Count
    metrics: dict[str, Any]
    started_at: StorableTime
    finished_at: StorableTime


def add_retrain_routes(app: faust.App, store_thread: StoreThread, store: RetrainStore) -> None:
    def guarded(handler):
        async def page(web, request):
            try:
                return web.json(await handler(request))
            except BadQuery as exc:
                return web.json({"error": str(exc)}, status=400)

        page.__name__ = handler.__name__  # faust names the view class after it
        return page

    async def labels(request):
        task, after = _task(request), request.query.get("after", "")
        limit = query_int(request.query, "limit", LABELS_PAGE, maximum=LABELS_PAGE_MAX)
        rows = await store_thread.run(store.labelled_examples, task, after, limit)  # StoreThread.run passes no keywords
        next_after = rows[-1]["document_id"] if len(rows) == limit else None
        return {"task": task, "count": len(rows), "labels": rows, "next_after": next_after}

    async def queue(request):
        task, n, by = (
            _task(request),
            query_int(request.query, "n", 50, maximum=QUEUE_N_MAX),
            request.query.get("by", "margin"),
        )
        if by not in STRATEGIES:
            raise BadQuery(f"by must be one of {', '.join(STRATEGIES)}")
        pool = query_int(request.query, "pool", QUEUE_POOL, maximum=QUEUE_POOL_MAX)
        candidates = await store_thread.run(store.unlabelled_predictions, task, pool)
        return {"task": task, "by": by, "items": select_for_labelling(candidates, n, by)}

    async def unlabelled(request):
        task = _task(request)
        rows = await store_thread.run(
            store.unlabelled_predictions, task, query_int(request.query, "pool", QUEUE_POOL, maximum=QUEUE_POOL_MAX)
        )
        return {"task": task, "documents": rows}

    async def predictions(request):
        task, model = _task(request), request.query.get("model", "")
        since, until = query_time(request.query, "since"), query_time(request.query, "until")
        summary = await store_thread.run(store.prediction_summary, task, model, since, until)
        return {"task": task, "model": model, "sources": summary}

    app.page("/api/labels")(guarded(labels))
    app.page("/api/labels/queue")(guarded(queue))
    app.page("/api/retrain/documents")(guarded(unlabelled))
    app.page("/api/predictions/summary")(guarded(predictions))

    @app.page("/api/model-versions")
    class ModelVersions(View):
        async def get(self, request):
            try:
                task = _task(request, required=False)
            except BadQuery as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"decisions": await store_thread.run(store.decisions, task)})

        async def post(self, request):
            try:
                decision = AuditDecision.model_validate(parse_json(await request.read()))
            except NotJSON as exc:
                return self.json({"error": f"body is not JSON: {exc}"}, status=400)
            except ValidationError as exc:
                return self.json({"error": validation_reason(exc, "decision")}, status=400)
            await store_thread.run(store.record_decision, decision.model_dump(mode="json"))
            return self.json({"recorded": decision.run_id})

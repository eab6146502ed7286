"""The worker's alert API and evaluator timer: list and show alerts, acknowledge one, silence a rule or a group.

GET  /api/alerts[?state=firing&limit=100]      GET  /api/alerts/{alert_id}
POST /api/alerts/{alert_id}/ack {"by": NAME}   GET  /api/silences (the active ones; times in UTC, with offset)
POST /api/silences {"rule": R, "group": "source=x" or "", "for_s": 7200, "by": NAME, "comment": ""}
     (the group as an alert shows it, or with its value unencoded; 400 unless it names the rule's dimensions)
POST /api/silences/{silence_id}/end {"by": NAME}   ends an active silence now (404 if none is active)

With tokens configured, `by` is the client whose token the request carried (it may be left out);
what the body claims counts only when no token is asked for (bloomwatch.access.actor).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
from faust.web import View
from pydantic import BaseModel, Field, ValidationError

from bloomwatch.access import actor
from bloomwatch.alerts.rules import RuleSet, load_rules
from bloomwatch.alerts.windows import BadGroupKey, canonical_group_key
from bloomwatch.json_input import NotJSON, parse_json
from bloomwatch.setting_groups import AlertSettings, KafkaSettings
from store.alerts import AlertStore, alert_json
from store.connect import StoreClient
from store.executor import StoreThread
from streams.alerts.evaluator import AlertEvaluator
from streams.alerts.notify import Notifier
from streams.query_params import BadQuery, query_int


class SilenceRequest(BaseModel):
    rule: str
    group: str = ""
    for_s: float = Field(gt=0, le=90 * 86_400)
    by: str = ""
    comment: str = ""


class AckRequest(BaseModel):
    """Who acknowledges an alert, or ends a silence."""

    by: str = ""


RequestBody = TypeVar("RequestBody", SilenceRequest, AckRequest)  # a body that says who acts (`by`)


def install(
    app: faust.App, alerts: AlertSettings, kafka: KafkaSettings, client: StoreClient, store_thread: StoreThread
) -> None:
    """The alert API on the worker, and the evaluator timer when this worker is the evaluator."""
    rules = load_rules(alerts.alerts_rules)  # a bad file stops the worker at start, key named
    register_alert_routes(app, rules, client, store_thread)
    if not alerts.alerts_in_worker:
        return
    evaluator = AlertEvaluator(alerts, rules, client, store_thread, Notifier(alerts, kafka))

    @app.timer(alerts.alerts_interval_s)
    async def evaluate_alerts() -> None:
        await evaluator.tick()

    @app.on_before_shutdown.connect
    async def _close_notifier(sender: object, /, *args: Any, **kwargs: Any) -> None:
        await evaluator.close()


def register_alert_routes(app: faust.App, rules: RuleSet, client: StoreClient, store_thread: StoreThread) -> None:
    store = AlertStore(client)

    async def body(request, model: type[RequestBody]) -> RequestBody | str:
        try:
            return model.model_validate(parse_json(await request.read()))
        except (ValidationError, NotJSON) as error:
            return str(error)

    async def act(request, model: type[RequestBody], doing: str) -> tuple[RequestBody, str] | str:
        """The validated body and who does it: the token's client, else (no tokens) the body's `by`;
        or why the request is a 400."""
        parsed = await body(request, model)
        if isinstance(parsed, str):
            return parsed
        return (parsed, by) if (by := actor(request, parsed.by)) else f"by: who {doing} is required"

    async def by_someone(view: View, request, doing: str, change, key: str, as_json, missing: str):
        """A change whose body says only who makes it (`AckRequest`): 400 without them, 404 when
        `change(key, by)` finds nothing to change, else what it changed as JSON."""
        acting = await act(request, AckRequest, doing)
        if isinstance(acting, str):
            return view.error(400, acting)
        changed = await store_thread.run(change, key, acting[1])
        return view.json(as_json(changed)) if changed else view.error(404, missing)

    @app.page("/api/alerts")
    class Alerts(View):
        async def get(self, request, **kwargs: Any):
            state = request.query.get("state") or None
            try:
                limit = query_int(request.query, "limit", 100, maximum=10_000)
            except BadQuery as exc:
                return self.error(400, str(exc))
            return self.json([alert_json(alert) for alert in await store_thread.run(store.list, state, limit)])

    @app.page("/api/alerts/{alert_id}")
    class OneAlert(View):
        async def get(self, request, alert_id: str):
            alert = await store_thread.run(store.get, alert_id)
            return self.json(alert_json(alert)) if alert else self.error(404, f"no alert {alert_id}")

    @app.page("/api/alerts/{alert_id}/ack")
    class Acknowledge(View):
        async def post(self, request, alert_id: str):
            return await by_someone(
                self, request, "acknowledges", store.acknowledge, alert_id, alert_json, f"no alert {alert_id}"
            )

    @app.page("/api/silences")
    class Silences(View):
        async def get(self, request, **kwargs: Any):
            silences = await store_thread.run(store.active_silences, datetime.now(UTC))
            return self.json([_jsonable(silence) for silence in silences])

        async def post(self, request, **kwargs: Any):
            acting = await act(request, SilenceRequest, "silences")
            if isinstance(acting, str):
                return self.error(400, acting)
            silence, by = acting
            rule = rules.get(silence.rule)
            if rule is None:
                known = ", ".join(each.name for each in rules.rules)
                return self.error(400, f"no rule {silence.rule!r}; rules: {known}")
            try:
                group = canonical_group_key(silence.group, rule.group_by)
            except BadGroupKey as error:
                return self.error(400, str(error))
            created = await store_thread.run(store.silence, silence.rule, group, silence.for_s, by, silence.comment)
            return self.json(_jsonable(created))

    @app.page("/api/silences/{silence_id}/end")
    class EndSilence(View):
        async def post(self, request, silence_id: str):
            missing = f"no active silence {silence_id}"
            return await by_someone(
                self, request, "ends the silence", store.end_silence, silence_id, _jsonable, missing
            )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}

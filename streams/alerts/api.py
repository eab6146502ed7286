"""The worker's alert API and evaluator timer: list and show alerts, acknowledge one, silence a rule or a group.

GET  /api/alerts[?state=firing&limit=100]      GET  /api/alerts/{alert_id}
POST /api/alerts/{alert_id}/ack {"by": NAME}   GET  /api/silences
POST /api/silences {"rule": R, "group": "source=x" or "", "for_s": 7200, "by": NAME, "comment": ""}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
from faust.web import View
from pydantic import BaseModel, Field, ValidationError

from bloomwatch.settings import Settings
from streams.alerts.evaluator import AlertEvaluator
from streams.alerts.rules import RuleSet, load_rules
from streams.alerts.state import AlertStore, alert_json


class SilenceRequest(BaseModel):
    rule: str
    group: str = ""
    for_s: float = Field(gt=0, le=90 * 86_400)
    by: str = Field(min_length=1)
    comment: str = ""


class AckRequest(BaseModel):
    by: str = Field(min_length=1)


def install(app: faust.App, settings: Settings, client, run_store) -> None:
    """The alert API on the worker, and the evaluator timer when this worker is the evaluator."""
    rules = load_rules(settings.alerts_rules)  # a bad file stops the worker at start, key named
    register_alert_routes(app, rules, client, run_store)
    if not settings.alerts_in_worker:
        return
    evaluator = AlertEvaluator(settings, rules, client, run_store)

    @app.timer(settings.alerts_interval_s)
    async def evaluate_alerts() -> None:
        await evaluator.tick()

    @app.on_before_shutdown.connect
    async def _close_notifier(sender, **kwargs) -> None:
        await evaluator.close()


def register_alert_routes(app: faust.App, rules: RuleSet, client, run_store) -> None:
    store = AlertStore(client)

    async def body(request, model: type[BaseModel]) -> BaseModel | str:
        try:
            return model.model_validate(await request.json())
        except (ValidationError, ValueError) as error:
            return str(error)

    @app.page("/api/alerts")
    class Alerts(View):
        async def get(self, request, **kwargs: Any):
            state = request.query.get("state") or None
            limit = int(request.query.get("limit", 100)) if request.query.get("limit", "100").isdigit() else 100
            return self.json([alert_json(alert) for alert in await run_store(store.list, state, limit)])

    @app.page("/api/alerts/{alert_id}")
    class OneAlert(View):
        async def get(self, request, alert_id: str):
            alert = await run_store(store.get, alert_id)
            return self.json(alert_json(alert)) if alert else self.error(404, f"no alert {alert_id}")

    @app.page("/api/alerts/{alert_id}/ack")
    class Acknowledge(View):
        async def post(self, request, alert_id: str):
            ack = await body(request, AckRequest)
            if isinstance(ack, str):
                return self.error(400, ack)
            alert = await run_store(store.acknowledge, alert_id, ack.by)
            return self.json(alert_json(alert)) if alert else self.error(404, f"no alert {alert_id}")

    @app.page("/api/silences")
    class Silences(View):
        async def get(self, request, **kwargs: Any):
            silences = await run_store(store.active_silences, datetime.now(UTC))
            return self.json([_jsonable(silence) for silence in silences])

        async def post(self, request, **kwargs: Any):
            silence = await body(request, SilenceRequest)
            if isinstance(silence, str):
                return self.error(400, silence)
            if rules.get(silence.rule) is None:
                known = ", ".join(rule.name for rule in rules.rules)
                return self.error(400, f"no rule {silence.rule!r}; rules: {known}")
            created = await run_store(store.silence, silence.rule, silence.group, silence.for_s, silence.by, silence.comment)
            return self.json(_jsonable(created))


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}

"""A task declared in a tasks file (BLOOMWATCH_TASKS_FILE) is an alert dimension like the built-in
ones, with no code change: a rule groups by it, the evaluator counts the watched label per group
of it and fires, and the evidence names each example's label of it. Unknown dimensions stay refused.

The evaluator runs on chDB in a fresh interpreter (a chDB directory belongs to one process)."""

from __future__ import annotations

import json

import pytest
from alerts_support import rules_toml
from conftest import declared_task_file
from dashboard_support import run_python

from bloomwatch.alerts.rules import RuleFileError, load_rules
from bloomwatch.alerts.windows import parse_group_key

RULES_TOML = rules_toml(window_s=60, group_by="urgency", scope='{ kind = ["review"] }')

SCENARIO = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from bloomwatch.settings import Settings
from bloomwatch.alerts import windows
from streams.alerts.evaluator import AlertEvaluator
from streams.alerts.notify import Notifier
from bloomwatch.alerts.rules import load_rules
from store.alerts import AlertStore
from store.connect import open_client
from store.documents import DocumentStore
from store.executor import StoreThread

store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
rules = load_rules(Path(sys.argv[2]))
now = datetime.now(UTC)
current = windows.floor_window(rules.rules[0], now)
rows = []
for urgency in ("low", "high"):
    for k in range(1, 16):  # 15 closed windows; for urgent documents the latest 3 are mostly negative
        start = current - timedelta(minutes=k)
        for i in range(30):
            negative = i < (26 if urgency == "high" and k <= 3 else 4)
            at = start + timedelta(seconds=i + 1)
            rows.append([f"{urgency}-{k}-{i}", "shop", "review", "en", at, at, at, "late again",
                         "negative" if negative else "neutral", 0.9 if negative else 0.1, "sentiment-v1",
                         "business", "topic-v1", urgency, "urgency-v1"])
store.client.insert("documents", rows, settings={"async_insert": 0}, column_names=[
    "id", "source", "kind", "lang", "published_at", "enqueued_at", "ingested_at", "text", "sentiment",
    "sentiment_negative", "sentiment_model", "topic", "topic_model", "urgency", "urgency_model"])

settings = Settings(alerts_grace_s=0, alerts_max_lateness_s=0, alerts_catchup_s=600, alerts_webhook_url=None)
evaluator = AlertEvaluator(settings.alerts, rules, store.client, StoreThread(), Notifier(settings.alerts, settings.kafka))
notifications = asyncio.run(evaluator.step(now))
written = AlertStore(store.client).latest_by_group(rules.rules[0].name)
print(json.dumps({
    "notified": sorted(payload["group_key"] for _, payload in notifications),
    "states": {key: alert.state for key, alert in written.items()},
    "examples": json.loads(written["urgency=high"].payload)["examples"],
}))
"""


@pytest.fixture
def tasks_file(tmp_path, monkeypatch):
    path = declared_task_file(tmp_path / "tasks.toml", "urgency", ("low", "high"))
    monkeypatch.setenv("BLOOMWATCH_TASKS_FILE", str(path))
    return path


def test_a_rule_on_a_task_nobody_declared_is_refused_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("BLOOMWATCH_TASKS_FILE", raising=False)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML)
    with pytest.raises(RuleFileError) as error:
        load_rules(rules)
    assert "rules[0].group_by[0]" in str(error.value) and "unknown dimension 'urgency'" in str(error.value)


def test_a_declared_task_is_a_dimension_of_rules_and_group_keys(tmp_path, tasks_file):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML.replace('kind = ["review"]', 'urgency = ["high"]'))
    assert load_rules(rules).rules[0].scope.filters() == {"urgency": ["high"]}
    assert parse_group_key("urgency=high") == {"urgency": "high"}


def test_the_evaluator_fires_on_a_declared_tasks_group_with_its_label_in_the_evidence(tmp_path, tasks_file):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML)
    out = json.loads(run_python(SCENARIO, f"chdb://{tmp_path / 'store'}", str(rules)))
    assert out["notified"] == ["urgency=high"]
    assert out["states"]["urgency=high"] == "firing" and out["states"].get("urgency=low") != "firing"
    examples = out["examples"]
    assert examples and all(e["urgency"] == "high" and e["probability"] == pytest.approx(0.9) for e in examples)
    assert set(examples[0]) == {"id", "snippet", "probability", "source", "kind", "topic", "urgency", "published_at"}

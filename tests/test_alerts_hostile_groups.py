"""What publishers control cannot stop alerting: `acme-bank` spiking beside groups whose source
name carries the key's separators, whose texts are all one word, or whose evidence fails (an
injected fault), and beside a rule whose counts fail, still fires and is written.

The real evaluator round on chDB, in a fresh interpreter (a chDB directory belongs to one process)."""

from __future__ import annotations

import json

from dashboard_support import run_python

SCENARIO = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from alerts_support import rules_toml
from bloomwatch.settings import Settings
from bloomwatch.alerts import windows
from streams.alerts import terms
from streams.alerts.evaluator import EVALUATION_FAILURES, AlertEvaluator
from streams.alerts.notify import Notifier
from bloomwatch.alerts.rules import load_rules
from store import alert_windows
from store.alerts import AlertStore
from store.connect import open_client
from store.documents import DocumentStore
from store.executor import StoreThread

store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
rules_path = Path(sys.argv[2])
rules_path.write_text(rules_toml(60) + rules_toml(60).replace("negative-share-by-source", "broken-rule"))
rules = load_rules(rules_path)

HOSTILE = "evil,source=x%2C"
now = datetime.now(UTC)
current = windows.floor_window(rules.rules[0], now)
rows = []
for source, burst_text, normal_text in [
    ("acme-bank", "refund outage broken app", "service fine today"),
    (HOSTILE, "refund outage broken app", "service fine today"),
    ("one-word", "outage", "outage"),
    ("poison-shop", "poison refund outage", "service fine today"),
]:
    for k in range(1, 26):  # 25 closed windows, the latest 3 a burst of negatives
        start = current - timedelta(minutes=k)
        for i in range(30):
            negative = i < (26 if k <= 3 else 4)
            at = start + timedelta(seconds=i + 1)
            rows.append([f"{source}-{k}-{i}", source, "review", "en", at, at, at,
                         burst_text if negative else normal_text, "negative" if negative else "neutral",
                         0.9 if negative else 0.1, "sentiment-v1", "business", "topic-v1"])
store.client.insert("documents", rows, settings={"async_insert": 0}, column_names=[
    "id", "source", "kind", "lang", "published_at", "enqueued_at", "ingested_at", "text", "sentiment",
    "sentiment_negative", "sentiment_model", "topic", "topic_model"])

# injected faults: one group's evidence, one rule's counts
real_terms, real_counts = terms.over_represented, alert_windows.window_counts
def over_represented(focus, background, **kw):
    if "poison" in focus:
        raise RuntimeError("injected: poison-shop's evidence fails")
    return real_terms(focus, background, **kw)
def window_counts(client, rule, *args):
    if rule.name == "broken-rule":
        raise RuntimeError("injected: broken-rule's counts fail")
    return real_counts(client, rule, *args)
terms.over_represented, alert_windows.window_counts = over_represented, window_counts

settings = Settings(alerts_grace_s=0, alerts_max_lateness_s=0, alerts_catchup_s=600, alerts_webhook_url=None)
evaluator = AlertEvaluator(settings.alerts, rules, store.client, StoreThread(), Notifier(settings.alerts, settings.kafka))
notifications = asyncio.run(evaluator.step(now))
written = AlertStore(store.client).latest_by_group("negative-share-by-source")
print(json.dumps({
    "notified": sorted(payload["group_key"] for _, payload in notifications),
    "written": {key: {"state": a.state, "group": json.loads(a.payload)["group"], "terms": json.loads(a.payload).get("terms")}
                for key, a in written.items()},
    "broken_rule_written": len(AlertStore(store.client).latest_by_group("broken-rule")),
    "failures": {rule: EVALUATION_FAILURES.labels(rule)._value.get() for rule in ("negative-share-by-source", "broken-rule")},
}))
"""


def test_acme_spiking_beside_hostile_groups_and_a_failing_rule_still_fires_and_is_written(tmp_path):
    out = json.loads(run_python(SCENARIO, f"chdb://{tmp_path / 'store'}", str(tmp_path / "rules.toml")))
    hostile_key = "source=evil%2Csource%3Dx%252C"  # `,` and `=` cannot forge a dimension; `%` stays itself
    assert out["notified"] == sorted(["source=acme-bank", hostile_key, "source=one-word"])
    written = out["written"]
    assert written["source=acme-bank"]["state"] == "firing"
    assert written["source=acme-bank"]["terms"][0]["term"] in {"refund", "outage", "broken", "app"}
    assert written[hostile_key] == {**written[hostile_key], "state": "firing", "group": {"source": "evil,source=x%2C"}}
    assert written["source=one-word"] == {"state": "firing", "group": {"source": "one-word"}, "terms": []}
    assert "source=poison-shop" not in written  # its failure stayed its own
    assert out["broken_rule_written"] == 0
    assert out["failures"] == {"negative-share-by-source": 1, "broken-rule": 1}

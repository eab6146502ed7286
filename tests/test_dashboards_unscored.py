"""Documents no model reads on both dashboards (issue 29): a chDB store holding English documents
every task scored and Japanese ones no model reads (unsupported_language), written through
DocumentStore.insert as the worker writes them. `bloomwatch dashboard` counts the Japanese ones in
the volumes, the volume by language and the unscored share per task, never in a share, a mix or a
label filter (their stored label is a placeholder: sentiment's first label, negative); the Grafana
panels give the same numbers on chDB; the page (headless chromium) draws the new panels."""

import json
from datetime import timedelta

import httpx
import pytest
from dashboard_support import dashboard_server, now_utc, run_python
from selenium.webdriver.common.by import By
from test_dashboards_browser import ARTIFACTS, console_errors, dashboard_page, wait_for

ENGLISH, JAPANESE, TOPIC_BEFORE = 240, 120, 30  # the last 30 English ones were stored before topic existed
NEGATIVE = len(range(0, ENGLISH, 3))  # every third English document (labels in turn)
TOPIC_SCORED = ENGLISH - TOPIC_BEFORE
WORLD = len(range(0, TOPIC_SCORED, 4))  # topic's first label, and the Japanese documents' placeholder

# In a fresh process (a chDB directory belongs to one process): the store, then the committed
# Grafana panels as Grafana sends them with every variable on "All", and with sentiment=negative.
SETUP = """
import json
from datetime import datetime, timedelta
from dashboard_support import market_rows
from dashboards.grafana.build import OUTPUT
from dashboards.queries import fixed_values
from grafana_template import ALL, expand_macros, interpolate
from store.connect import open_client
from store.documents import DocumentStore

dsn, end = sys.argv[1], datetime.fromisoformat(sys.argv[2])
english, japanese, topic_before = map(int, sys.argv[3:6])
store = DocumentStore(open_client(dsn))
store.ensure_schema()
store.insert(market_rows(end, english=english, japanese=japanese, topic_before=topic_before, span=timedelta(minutes=50)))
board = json.loads(OUTPUT.read_text())
variables = {v["name"]: v for v in board["templating"]["list"]}
all_values = {name: v["allValue"] for name, v in variables.items() if v.get("allValue")}
options = {**{name: list(values) for name, values in fixed_values().items()},
           "source": ["shop-en", "wire-en", "wire-ja"], "lang": ["en", "ja"]}
grafana = {}
for scenario, chosen in {"all": {}, "negative": {"sentiment": ["negative"]}}.items():
    values = {**{name: ALL for name in variables if name != "q"}, "q": "", **chosen}
    for panel in board["panels"]:
        sql = expand_macros(interpolate(panel["targets"][0]["rawSql"], values, options, all_values),
                            start=end - timedelta(hours=2), end=end + timedelta(seconds=1), interval_s=60)
        grafana[f"{scenario}:{panel['title']}"] = [
            {k: v if isinstance(v, (int, float, list)) else str(v) for k, v in row.items()}
            for row in store.client.query(sql).named_results()
        ]
print(json.dumps({"stored": store.count(), "unscored": store.unscored_counts(), "grafana": grafana}))
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("unscored")
    dsn, end = f"chdb://{root / 'chdb'}", now_utc() - timedelta(seconds=30)
    expected = json.loads(run_python(SETUP, dsn, end.isoformat(), str(ENGLISH), str(JAPANESE), str(TOPIC_BEFORE)))
    assert expected["stored"] == ENGLISH + JAPANESE
    assert expected["unscored"] == {
        "sentiment": {"unsupported_language": JAPANESE},
        "topic": {"unsupported_language": JAPANESE, "stored_before_task": TOPIC_BEFORE},
    }
    with dashboard_server(root, dsn) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, expected, end


def _range(end) -> dict[str, str]:
    return {"from": (end - timedelta(hours=2)).isoformat(), "to": (end + timedelta(seconds=1)).isoformat()}


def _panels(client, end, **filters) -> dict:
    response = client.get("/api/dashboard/panels", params={**_range(end), **filters})
    assert response.status_code == 200, response.text
    return response.json()["panels"]


def _by_task(unscored: dict) -> dict[str, dict]:
    rows = [dict(zip(unscored, values, strict=True)) for values in zip(*unscored.values(), strict=True)]
    return {row["task"]: row for row in rows}


def test_shares_and_mixes_count_only_the_documents_a_task_scored(dashboard):
    client, _, end = dashboard
    panels = _panels(client, end)
    assert panels["totals"]["documents"] == [ENGLISH + JAPANESE]  # every document
    assert panels["totals"]["scored"] == [ENGLISH]
    assert panels["totals"]["negative"] == [NEGATIVE]  # not the Japanese placeholders
    assert panels["totals"]["negative_share"] == [pytest.approx(NEGATIVE / ENGLISH)]
    assert sum(panels["negative_share"]["documents"]) == ENGLISH
    assert sum(panels["negative_share"]["negative"]) == NEGATIVE
    by_source = panels["sentiment_by_source"]
    assert sum(by_source["documents"]) == ENGLISH and set(by_source["grp"]) == {"wire-en", "shop-en"}
    assert sum(panels["sentiment_by_topic"]["documents"]) == TOPIC_SCORED  # scored by both tasks
    mix = dict(zip(panels["topic_mix"]["topic"], panels["topic_mix"]["documents"], strict=True))
    assert sum(mix.values()) == TOPIC_SCORED and mix["world"] == WORLD
    assert set(panels["top_negative"]["lang"]) == {"en"}


def test_volumes_count_every_document_by_language(dashboard):
    client, _, end = dashboard
    panels = _panels(client, end)
    assert sum(panels["volume"]["documents"]) == ENGLISH + JAPANESE
    by_lang: dict[str, int] = {}
    for lang, documents in zip(panels["volume_by_lang"]["lang"], panels["volume_by_lang"]["documents"], strict=True):
        by_lang[lang] = by_lang.get(lang, 0) + documents
    assert by_lang == {"en": ENGLISH, "ja": JAPANESE}
    japanese = _panels(client, end, lang="ja")
    assert japanese["totals"]["documents"] == [JAPANESE] and japanese["totals"]["scored"] == [0]
    assert japanese["totals"]["negative_share"] == [None]  # no share of nothing
    assert japanese["sentiment_by_source"]["documents"] == [] and japanese["topic_mix"]["documents"] == []


def test_unscored_share_per_task_by_reason(dashboard):
    client, _, end = dashboard
    options = client.get("/api/dashboard/options").json()
    assert options["unscored_reasons"] == ["unsupported_language", "stored_before_task"]
    unscored = _panels(client, end)["unscored"]
    assert unscored["task"] == [task["name"] for task in options["tasks"]]  # the table's order
    rows, total = _by_task(unscored), ENGLISH + JAPANESE
    assert rows["sentiment"]["documents"] == total and rows["sentiment"]["unscored"] == JAPANESE
    assert rows["sentiment"]["unsupported_language"] == pytest.approx(JAPANESE / total)
    assert rows["sentiment"]["stored_before_task"] == 0 and rows["sentiment"]["languages"] == ["ja"]
    assert rows["topic"]["unscored"] == JAPANESE + TOPIC_BEFORE
    assert rows["topic"]["unscored_share"] == pytest.approx((JAPANESE + TOPIC_BEFORE) / total)
    assert rows["topic"]["stored_before_task"] == pytest.approx(TOPIC_BEFORE / total)
    assert rows["topic"]["languages"] == ["ja", "en"]  # most first
    english = _by_task(_panels(client, end, lang="en")["unscored"])
    assert english["sentiment"]["unscored"] == 0 and english["topic"]["unscored"] == TOPIC_BEFORE


def test_a_label_filter_matches_only_the_documents_the_task_scored(dashboard):
    client, _, end = dashboard
    negative = _panels(client, end, sentiment="negative")
    assert negative["totals"]["documents"] == [NEGATIVE]  # the Japanese documents' stored label is negative
    assert sum(negative["volume"]["documents"]) == NEGATIVE
    assert set(negative["volume_by_lang"]["lang"]) == {"en"}
    world = _panels(client, end, topic="world")
    assert world["totals"]["documents"] == [WORLD]
    rows = client.get("/api/dashboard/documents", params={**_range(end), "sentiment": "negative", "limit": 1000})
    assert set(rows.json()["rows"]["lang"]) == {"en"} and len(rows.json()["rows"]["id"]) == NEGATIVE

    japanese = client.get("/api/dashboard/documents", params={**_range(end), "lang": "ja", "limit": 1000}).json()
    rows = japanese["rows"]
    assert len(rows["id"]) == JAPANESE
    assert set(rows["sentiment"]) == set(rows["topic"]) == {""}  # no label where no model read the text
    assert set(rows["sentiment_negative"]) == {None}
    assert set(rows["sentiment_unscored"]) == set(rows["topic_unscored"]) == {"unsupported_language"}
    csv = client.get("/api/dashboard/documents.csv", params={**_range(end), "lang": "ja", "limit": 1000}).text
    header, first = csv.splitlines()[:2]
    cells = dict(zip(header.split(","), first.split(","), strict=True))
    assert (
        cells["sentiment"] == cells["sentiment_negative"] == ""
        and cells["sentiment_unscored"] == "unsupported_language"
    )


def test_the_grafana_panels_give_the_same_numbers(dashboard):
    client, expected, end = dashboard
    grafana, api = expected["grafana"], _panels(client, end)
    assert grafana["all:Totals"] == [
        {"documents": ENGLISH + JAPANESE, "scored": ENGLISH, "negative": NEGATIVE,
         "negative_share": pytest.approx(NEGATIVE / ENGLISH), "sources": 3}
    ]  # fmt: skip
    assert (
        sum(row["documents"] for row in grafana["all:Documents per interval by kind and source"]) == ENGLISH + JAPANESE
    )
    languages = grafana["all:Documents per interval by language"]
    assert {lang: sum(r["documents"] for r in languages if r["lang"] == lang) for lang in ("en", "ja")} == {
        "en": ENGLISH,
        "ja": JAPANESE,
    }
    unscored = grafana["all:Unscored share per task"]
    assert [row["task"] for row in unscored] == api["unscored"]["task"]
    assert [row["unscored"] for row in unscored] == api["unscored"]["unscored"] == [JAPANESE, JAPANESE + TOPIC_BEFORE]
    assert sum(row["documents"] for row in grafana["all:Topic mix"]) == TOPIC_SCORED
    assert sum(row["documents"] for row in grafana["all:Sentiment share by source"]) == ENGLISH
    assert grafana["negative:Totals"][0]["documents"] == NEGATIVE


def test_the_page_draws_the_language_and_unscored_panels(dashboard):
    client, _, _ = dashboard
    with dashboard_page(str(client.base_url.join("/dashboard")), 1440, 1800, timeout_s=90) as driver:
        languages = driver.execute_script(
            "return bloomwatch.charts.volume_by_lang.getOption().series.map((s) => s.name)"
        )
        assert languages == ["en", "ja"]  # the bigger market first (the bottom of the stack)
        bars = driver.execute_script(
            """const o = bloomwatch.charts.unscored.getOption();
                   return {tasks: o.yAxis[0].data, series: o.series.map((s) => [s.name, s.data])};"""
        )
        total = ENGLISH + JAPANESE
        assert bars["tasks"] == ["Sentiment", "Topic"]
        assert bars["series"][0][0] == "unsupported language"
        assert bars["series"][0][1] == [pytest.approx(JAPANESE / total), pytest.approx(JAPANESE / total)]
        assert bars["series"][1][1] == [0, pytest.approx(TOPIC_BEFORE / total)]
        assert driver.find_element(By.ID, "kpi-negative").text == f"{NEGATIVE} of {ENGLISH} scored"
        assert driver.find_element(By.ID, "kpi-documents").text == f"{total}"

        # the header keeps its filters on one line at 1440 px: the search box beside the range
        tops, header = driver.execute_script(
            """const top = (id) => Math.round(document.getElementById(id).closest('label').getBoundingClientRect().top);
                   return [['f-range', 'f-lang', 'f-q'].map(top), document.querySelector('.topbar').getBoundingClientRect().height];"""
        )
        driver.save_screenshot(str(ARTIFACTS / "unscored.png"))
        assert max(tops) - min(tops) <= 4 and header < 80, (tops, header)  # one row (labels centred)

        # a Japanese document in the documents table: no label, the reason instead
        driver.execute_script(
            "const s = document.getElementById('f-lang'); s.value = 'ja'; s.dispatchEvent(new Event('change', {bubbles: true}))"
        )
        wait_for(driver, f"document.getElementById('kpi-documents').textContent === '{JAPANESE}'")
        wait_for(driver, "document.querySelector('#table-documents tbody tr')?.textContent.includes('報告')")
        cells = driver.find_elements(By.CSS_SELECTOR, "#table-documents tbody tr:first-child td")
        assert [cell.text for cell in cells[3:6]] == ["unscored", "–", "unscored"]  # sentiment, P(neg), topic
        # no label to correct from: the choice starts empty, and saving it asks for one instead of posting
        choice = cells[-1].find_element(By.TAG_NAME, "select")
        assert driver.execute_script("return arguments[0].value", choice) == ""
        cells[-1].find_element(By.TAG_NAME, "button").click()
        assert cells[-1].find_element(By.CLASS_NAME, "msg").text == "choose a label"
        driver.execute_script("document.getElementById('documents-card').scrollIntoView()")
        driver.save_screenshot(str(ARTIFACTS / "unscored-documents.png"))
        assert not console_errors(driver)

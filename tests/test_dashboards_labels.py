"""`bloomwatch dashboard` (server mode) takes the page's label corrections itself: POST /labels
validates and reports by index like the worker's POST /labels and `bloomwatch label`, publishes
the accepted labels to the labels topic of a real broker, and needs the dashboard token; the
page's one-click *Correct label* (headless chromium) lands on that topic too."""

from datetime import timedelta

import httpx
import pytest
from dashboard_support import dashboard_server, now_utc, run_python
from kafka_consume import consume, unique_topics

pytestmark = pytest.mark.kafka

TOKEN = "label-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SETUP = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import populate
from store.documents import ddl_statements
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
        oops = httpx.post(
            f"{url}/labels", content=b"[oops", headers={**AUTH, "Content-Type": "application/json"}, timeout=10
        )
        assert oops.status_code == 400
        corrected = correct_first_document_in_the_browser(url)

    on_topic = consume(kafka_broker, [topics["topic_labels"]], expected=3)
    assert sorted((value["document_id"], value["task"], value["label"], value["annotator"]) for _, _, value in on_topic) == sorted([
        ("doc-3", "sentiment", "positive", "dashboard"),
        ("doc-4", "topic", "sports", "dashboard"),  # the token's client, whatever the body says
        (*corrected, "dashboard"),
    ])  # fmt: skip


def correct_first_document_in_the_browser(url: str) -> tuple[str, str, str]:
    """Opens the page (the token once in the URL, then a cookie), picks another sentiment for the
    newest document and clicks Save; (document id, task, label) once the page says saved."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from test_dashboards_browser import open_browser, wait_for

    driver = open_browser()
    try:
        driver.get(f"{url}/dashboard?token={TOKEN}")
        wait_for(driver, "window.bloomwatch.refreshes >= 1", timeout_s=60)
        cell = driver.find_element(By.CSS_SELECTOR, "#table-documents td.label-ctl")
        choice = Select(cell.find_element(By.TAG_NAME, "select"))
        label = next(o.text for o in choice.options if o.text != choice.first_selected_option.text)
        choice.select_by_visible_text(label)
        button = cell.find_element(By.TAG_NAME, "button")
        button.click()
        wait_for(driver, "document.querySelector('#table-documents td.label-ctl .msg').textContent === 'saved'")
        return button.get_attribute("data-id"), "sentiment", label
    finally:
        driver.quit()

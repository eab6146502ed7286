"""The built-in dashboard in a real browser (headless Debian chromium) on a running pipeline: real
Kafka, classifier servers and the worker serving /dashboard from the chDB store it owns.
Screenshots go to test-artifacts/dashboards/ (or $BLOOMWATCH_TEST_ARTIFACTS)."""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from bloomwatch.net import free_port
from dashboard_support import now_utc, run_python
from pipeline_support import Deployment, start_classifier, synthetic_documents, wait_until

pytestmark = pytest.mark.kafka

ARTIFACTS = Path(os.environ.get("BLOOMWATCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")) / "dashboards"
N = 120
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian chromium-driver, installed by .ci/run

ALERT = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert
from streams.store import ddl_statements
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for statement in ddl_statements():
    client.command(statement)
insert_alert(client, alert_id="browser-alert", source="test-shop", state="firing", started_at=datetime.fromisoformat(sys.argv[2]))
print("ok")
"""


def open_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(driver, script: str, timeout_s: float = 30):
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout_s
    while not (value := driver.execute_script(f"return {script}")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{script} stayed falsy; status: {driver.find_element(By.ID, 'status').text}")
        time.sleep(0.2)
    return value


@pytest.fixture
def pipeline(tiny_registry, kafka_broker, tmp_path):
    logs = tmp_path / "logs"
    ports = {task: free_port() for task in ("sentiment", "topic")}
    classifiers = [start_classifier(task, tiny_registry.root, port, logs) for task, port in ports.items()]
    deployment = Deployment(
        root=tmp_path,
        bootstrap=kafka_broker,
        sentiment_url=f"http://127.0.0.1:{ports['sentiment']}",
        topic_url=f"http://127.0.0.1:{ports['topic']}",
        extra_env={"BLOOMWATCH_REGISTRY_DIR": str(tiny_registry.root)},
    )
    # The alert is written before the worker opens the store (one process owns a chDB directory).
    run_python(ALERT, deployment.settings.clickhouse_dsn, (now_utc() - timedelta(minutes=2)).isoformat())
    worker = deployment.start_worker()
    try:
        documents = synthetic_documents(N, prefix="browser")
        deployment.publish(documents)
        deployment.publish(documents[:30])  # re-delivered: must not be counted twice
        wait_until(lambda: deployment.count() == N, 120, f"{N} documents stored")
        yield deployment
    finally:
        worker.stop(timeout_s=60)
        for server in classifiers:
            server.stop(timeout_s=30)


def test_dashboard_in_a_browser_on_a_running_pipeline(pipeline):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = open_browser()
    try:
        driver.get(f"{pipeline.api}/dashboard")
        first_render_ms = wait_for(driver, "window.bloomwatch.firstRenderMs")
        print(f"first render {first_render_ms:.0f} ms")
        wait_for(driver, "bloomwatch.refreshes >= 1")  # the documents table and health too

        # Totals shown equal the SQL count (count() FINAL behind /api/documents/count).
        assert driver.find_element(By.ID, "kpi-documents").text == f"{pipeline.count():,}" == f"{N:,}"
        assert driver.find_element(By.ID, "kpi-firing").text == "1"
        assert "source=test-shop" in driver.find_element(By.ID, "table-alerts").text
        assert wait_for(driver, "document.getElementById('kpi-dead').textContent !== '–' && document.getElementById('kpi-dead').textContent") == "0"
        assert "sentiment-v1" in driver.find_element(By.ID, "table-models").text
        series = driver.execute_script("return bloomwatch.charts.volume.getOption().series.map(s => s.name)")
        assert set(series) == {"news / test-wire", "review / test-shop"}
        driver.save_screenshot(str(ARTIFACTS / "1-overview.png"))

        # A filter changes the totals and the charts.
        Select(driver.find_element(By.ID, "f-source")).select_by_value("test-wire")
        wait_for(driver, f"document.getElementById('kpi-documents').textContent === '{N // 2}'")
        wait_for(driver, "bloomwatch.charts.volume.getOption().series.map(s => s.name).join() === 'news / test-wire'")
        assert "source=test-shop" not in driver.find_element(By.ID, "table-alerts").text
        driver.save_screenshot(str(ARTIFACTS / "2-filtered.png"))

        # Clicking the tallest bar drills down to exactly the documents behind it.
        t, count, x, y = driver.execute_script(
            """const c = bloomwatch.charts.volume, data = c.getOption().series[0].data;
               const [t, n] = data.reduce((a, b) => (b[1] > a[1] ? b : a));
               const [x, y] = c.convertToPixel({seriesIndex: 0}, [t, n / 2]);
               return [t, n, x, y];"""
        )
        element = driver.find_element(By.ID, "chart-volume")
        size = element.size
        ActionChains(driver).move_to_element_with_offset(element, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
        wait_for(driver, "document.getElementById('drill-label').textContent.includes('drill-down')")
        wait_for(driver, f"document.querySelectorAll('#table-documents tbody tr').length === {count}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#table-documents tbody tr")
        assert all("test-wire" in row.text for row in rows)
        assert driver.execute_script("return bloomwatch.state.drill.from") == t
        driver.execute_script("document.getElementById('documents-card').scrollIntoView()")
        driver.save_screenshot(str(ARTIFACTS / "3-drill-down.png"))
        assert not [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]
    finally:
        driver.quit()

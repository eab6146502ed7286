"""The built-in dashboard in a real browser (headless Debian chromium) on a running pipeline: real
Kafka, classifier servers and the worker serving /dashboard from the chDB store it owns.
Screenshots go to test-artifacts/dashboards/ (or $BLOOMWATCH_TEST_ARTIFACTS)."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from dashboard_support import now_utc, run_python
from pipeline_support import Deployment, running_pipeline, synthetic_documents
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

pytestmark = pytest.mark.kafka

ARTIFACTS = (
    Path(os.environ.get("BLOOMWATCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
    / "dashboards"
)
N = 240
SPREAD = timedelta(minutes=50)
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian chromium-driver, installed by .ci/run

ALERT = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert
from store.documents import ddl_statements
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for statement in ddl_statements():
    client.command(statement)
insert_alert(client, alert_id="browser-alert", source="test-shop", state="firing", started_at=datetime.fromisoformat(sys.argv[2]))
print("ok")
"""


def console_errors(driver: webdriver.Chrome) -> list[dict]:
    """The page's errors in the browser console (a missing favicon is not the page's)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]


def open_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1440,900",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@contextmanager
def dashboard_page(url: str, width: int, height: int, timeout_s: float = 60) -> Iterator[webdriver.Chrome]:
    """Chromium at `width` x `height` on the dashboard at `url`, after the page's first refresh;
    screenshots go to ARTIFACTS."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = open_browser()
    try:
        driver.set_window_size(width, height)
        driver.get(url)
        wait_for(driver, "window.bloomwatch.refreshes >= 1", timeout_s=timeout_s)
        yield driver
    finally:
        driver.quit()


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
    def write_alert(deployment: Deployment) -> None:  # before the worker owns the chDB store
        run_python(ALERT, deployment.settings.clickhouse_dsn, (now_utc() - timedelta(minutes=2)).isoformat())

    with running_pipeline(tiny_registry.root, kafka_broker, tmp_path, before_worker=write_alert) as deployment:
        # published over the last SPREAD, so the default one-hour page has a chart's worth of intervals
        end = now_utc() - timedelta(seconds=5)
        documents = [
            {**document, "published_at": (end - SPREAD * (N - i) / N).isoformat()}
            for i, document in enumerate(synthetic_documents(N, prefix="browser"))
        ]
        deployment.publish(documents)
        # re-delivered, and re-sent with another time: each must still count once, where it was first
        deployment.publish(
            documents[:20] + [{**d, "published_at": (end - timedelta(hours=2)).isoformat()} for d in documents[20:30]]
        )
        # committed offsets: every message, the re-sent ones too, has been stored (the worker commits after that)
        deployment.wait_until_committed(120)
        assert deployment.count() == N
        yield deployment


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
        assert (
            wait_for(
                driver,
                "document.getElementById('kpi-dead').textContent !== '–' && document.getElementById('kpi-dead').textContent",
            )
            == "0"
        )
        assert float(driver.find_element(By.ID, "kpi-throughput").text) > 0  # a rate from the first read on
        points = driver.execute_script("return bloomwatch.charts.volume.getOption().series.map(s => s.data.length)")
        assert min(points) >= 50, points  # the documents fill the hour's intervals, not one or two
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
        ActionChains(driver).move_to_element_with_offset(
            element, int(x - size["width"] / 2), int(y - size["height"] / 2)
        ).click().perform()
        wait_for(driver, "document.getElementById('drill-label').textContent.includes('drill-down')")
        wait_for(driver, f"document.querySelectorAll('#table-documents tbody tr').length === {count}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#table-documents tbody tr")
        assert all("test-wire" in row.text for row in rows)
        assert driver.execute_script("return bloomwatch.state.drill.from") == t
        driver.execute_script("document.getElementById('documents-card').scrollIntoView()")
        driver.save_screenshot(str(ARTIFACTS / "3-drill-down.png"))
        assert not console_errors(driver)
    finally:
        driver.quit()

"""The alert pin on the negative-share chart sits on the spike it marks (issue 27, item 15): a
resolved alert's row keeps its latest, calm window's figure, which put the pin at the series'
usual level at the start time. The real page in headless chromium on `bloomwatch dashboard`, over
a chDB store with a burst of negative reviews for one source and its resolved alert."""

import json
from datetime import UTC, datetime, timedelta

from dashboard_support import dashboard_server, now_utc, run_python
from test_dashboards_browser import open_browser, wait_for

SETUP = """
from datetime import datetime, timedelta
import clickhouse_connect
from dashboard_support import insert_alert, populate
from store.documents import ddl_statements
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for statement in ddl_statements():
    client.command(statement)
end = datetime.fromisoformat(sys.argv[2])
populate(client, 30_000, end=end, span=timedelta(hours=3), burst=(end - timedelta(minutes=90), end - timedelta(minutes=70)))
insert_alert(client, alert_id="spike", source="shop-south", state="resolved", started_at=end - timedelta(minutes=85),
             updated_at=end - timedelta(minutes=65), observed=0.3)
print("ok")
"""


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _moment(value) -> datetime:
    """A time as ECharts' option holds it: the ISO string given, or milliseconds once parsed."""
    return datetime.fromisoformat(value) if isinstance(value, str) else datetime.fromtimestamp(value / 1000, UTC)


def test_a_resolved_alerts_pin_sits_on_its_spike(tmp_path):
    end = now_utc()
    dsn = f"chdb://{tmp_path / 'chdb'}"
    run_python(SETUP, dsn, end.isoformat())
    started, resolved = end - timedelta(minutes=85), end - timedelta(minutes=65)
    query = f"source=shop-south&from={_iso(end - timedelta(minutes=150))}&to={_iso(end - timedelta(minutes=50))}"
    with dashboard_server(tmp_path, dsn) as url:
        driver = open_browser()
        try:
            driver.get(f"{url}/dashboard?{query}")  # as an alert's dashboard_url opens it: its source filtered
            series = json.loads(
                wait_for(
                    driver,
                    """(() => {
                const c = bloomwatch.charts.negative_share, s = c && c.getOption().series;
                const pins = s && s.find((x) => x.name === 'alerts');
                return pins && pins.data.length ? JSON.stringify(s.map((x) => [x.name, x.data])) : null; })()""",
                    timeout_s=60,
                )
            )
        finally:
            driver.quit()
    by_name = dict(series)
    [pin] = [point["value"] for point in by_name["alerts"]]
    shares = [(_moment(t), share) for t, share in by_name["negative share"] if share is not None]
    during = [(t, share) for t, share in shares if started - timedelta(minutes=5) <= t <= resolved]
    peak_t, peak = max(during, key=lambda point: point[1])
    assert (_moment(pin[0]), pin[1]) == (peak_t, peak)
    assert peak > 0.6 > 0.3  # on the burst (85 % negative), not at the resolved alert's calm 0.3
    assert started - timedelta(minutes=5) <= peak_t <= end - timedelta(minutes=70)

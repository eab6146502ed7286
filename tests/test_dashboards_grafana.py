"""Grafana provisioning: the dashboard JSON is the SDK's output for the current panel SQL (not
hand-edited), loads back through the SDK's models, and docker-compose mounts what exists; Grafana
logs in to ClickHouse as its own read-only user. The panels' SQL itself runs against chDB in
test_dashboards_api.py (the numbers) and test_dashboards_injection.py (hostile values)."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.grafana.build import OUTPUT, render
from dashboards.queries import panels

REPO = Path(__file__).resolve().parents[1]


def test_committed_dashboard_is_the_builders_output():
    assert OUTPUT.read_text() == render(), "stale: run python -m dashboards.grafana.build"


def test_dashboard_json_loads_through_the_sdk_models():
    board = Dashboard.from_json(json.loads(OUTPUT.read_text()))
    sql = [target["rawSql"] for panel in json.loads(OUTPUT.read_text())["panels"] for target in panel["targets"]]
    assert len(board.panels) == len(panels()) == len(sql)
    assert all("FROM documents FINAL" in s or "FROM alerts FINAL" in s for s in sql)
    names = {v.name for v in board.templating.list_val}
    assert {"source", "kind", "topic", "lang", "sentiment", "q"} <= names


def test_compose_mounts_the_provisioning():
    grafana = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in grafana["volumes"] if volume.startswith("./")}
    assert mounted == {
        "./dashboards/grafana/provisioning": "/etc/grafana/provisioning",
        "./dashboards/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    for source in mounted:
        assert (REPO / source).is_dir()
    datasource = yaml.safe_load((REPO / "dashboards/grafana/provisioning/datasources/clickhouse.yml").read_text())[
        "datasources"
    ][0]
    assert datasource["uid"] == json.loads(OUTPUT.read_text())["panels"][0]["datasource"]["uid"]


def test_grafana_logs_in_as_a_read_only_clickhouse_user_limited_to_the_panels_tables():
    """No ClickHouse server runs here: the users.d file is checked as the server would read it, and
    test_dashboards_injection.py runs every panel under readonly=2 and checks the tables its plan
    reads against these grants."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in compose["clickhouse"]["volumes"] if volume.startswith("./"))
    users_file = next(
        source for source, target in mounts.items() if target.startswith("/etc/clickhouse-server/users.d/")
    )
    config = ET.parse(REPO / users_file).getroot()
    user = config.find("users/grafana")
    profile = config.find(f"profiles/{user.findtext('profile')}")
    assert profile.findtext("readonly") == "2" and profile.find("constraints/readonly/const") is not None
    assert user.findtext("access_management") == "0"
    assert user.find("password").get("from_env") == "GRAFANA_CLICKHOUSE_PASSWORD"
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in compose["clickhouse"]["environment"]
    grants = [query.text for query in user.findall("grants/query")]
    assert grants == ["GRANT SELECT ON default.documents", "GRANT SELECT ON default.alerts"]
    board = json.loads(OUTPUT.read_text())
    sql = [t["rawSql"] for p in board["panels"] for t in p["targets"]] + [
        v.get("query", "") for v in board["templating"]["list"]
    ]
    assert {table for s in sql for table in re.findall(r"\bFROM (\w+)", s)} == {"documents", "alerts"}
    datasource = yaml.safe_load((REPO / "dashboards/grafana/provisioning/datasources/clickhouse.yml").read_text())[
        "datasources"
    ][0]
    assert datasource["jsonData"]["username"] == "grafana"  # not the workers' CLICKHOUSE_USER
    assert datasource["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" not in compose["grafana"]["environment"]

"""Grafana provisioning: the dashboard JSON is the SDK's output for the current panel SQL (not
hand-edited), loads back through the SDK's models, and docker-compose mounts what exists.
The panels' SQL itself runs against chDB in test_dashboards_api.py (macros expanded)."""

import json
from pathlib import Path

import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.grafana.build import OUTPUT, render
from dashboards.queries import PANELS

REPO = Path(__file__).resolve().parents[1]


def test_committed_dashboard_is_the_builders_output():
    assert OUTPUT.read_text() == render(), "stale: run python -m dashboards.grafana.build"


def test_dashboard_json_loads_through_the_sdk_models():
    board = Dashboard.from_json(json.loads(OUTPUT.read_text()))
    sql = [target["rawSql"] for panel in json.loads(OUTPUT.read_text())["panels"] for target in panel["targets"]]
    assert len(board.panels) == len(PANELS) == len(sql)
    assert all("FROM documents FINAL" in s or "FROM alerts FINAL" in s for s in sql)
    names = {v.name for v in board.templating.list_val}
    assert {"source", "kind", "topic", "lang", "sentiment", "q"} <= names


def test_compose_mounts_the_provisioning():
    grafana = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in grafana["volumes"] if volume.startswith("./")}
    assert mounted == {"./dashboards/grafana/provisioning": "/etc/grafana/provisioning", "./dashboards/grafana/dashboards": "/var/lib/grafana/dashboards"}
    for source in mounted:
        assert (REPO / source).is_dir()
    datasource = yaml.safe_load((REPO / "dashboards/grafana/provisioning/datasources/clickhouse.yml").read_text())["datasources"][0]
    assert datasource["uid"] == json.loads(OUTPUT.read_text())["panels"][0]["datasource"]["uid"]

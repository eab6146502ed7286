"""Builds the Grafana dashboard JSON from dashboards.queries with the official grafana-foundation-sdk.

The panels' SQL is the built-in dashboard's, rendered with the ClickHouse plugin's macros and
template variables; like the page, it has a share and a mix panel per task of the table, and a bar
per task in the unscored share. Regenerate
after changing a query (a test fails while the file is stale):
    python -m dashboards.grafana.build
A deployment that adds tasks (BLOOMWATCH_TASKS_FILE) builds its own with that variable set.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import barchart, common, dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from bloomwatch.tasks import Unscored, watched_task
from dashboards.queries import GRAFANA, GRAFANA_ALL, described_by, dimensions, fixed_values, panels

OUTPUT = Path(__file__).parent / "dashboards" / "bloomwatch.json"
DATASOURCE = DataSourceRef(type_val="grafana-clickhouse-datasource", uid="bloomwatch-clickhouse")
PLUGIN_VERSION = "4.10.1"


class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL target of the ClickHouse plugin (the SDK ships no ClickHouse query type)."""

    def __init__(self, ref_id: str, sql: str, as_time_series: bool):
        self.ref_id, self.sql, self.as_time_series = ref_id, sql, as_time_series

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "editorType": "sql",
            "queryType": "timeseries" if self.as_time_series else "table",
            "format": 0 if self.as_time_series else 1,  # plugin Format: 0 time series, 1 table
            "pluginVersion": PLUGIN_VERSION,
            "rawSql": self.sql.strip(),
        }


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, panel: str, as_time_series: bool):
        self._query = ClickHouseQuery("A", panels()[panel][1](GRAFANA), as_time_series)

    def build(self) -> ClickHouseQuery:
        return self._query


def _variable(name: str) -> dashboard.QueryVariable | dashboard.CustomVariable:
    fixed = fixed_values()
    if name in fixed:
        variable = dashboard.CustomVariable(name).values(",".join(fixed[name]))
    else:
        variable = (
            dashboard.QueryVariable(name)
            .datasource(DATASOURCE)
            .query(f"SELECT DISTINCT {dimensions()[name]} FROM documents")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
        )
    everything = VariableOption(selected=True, text="All", value="$__all")
    # "All" as one marker, not every value joined: the panels' SQL decodes it (dashboards.queries.GRAFANA)
    return variable.label(name.capitalize()).multi(True).include_all(True).all_value(GRAFANA_ALL).current(everything)


def _series(panel: str, *, stacked: bool = False, percent: bool = False, bars: bool = False) -> timeseries.Panel:
    builder = (
        timeseries.Panel()
        .title(panels()[panel][0])
        .datasource(DATASOURCE)
        .with_target(ClickHouseQueryBuilder(panel, as_time_series=True))
        .fill_opacity(80 if stacked else 10)
    )
    if bars:
        builder = builder.draw_style(common_models.GraphDrawStyle.BARS)
    if stacked:
        mode = common_models.StackingMode.PERCENT if percent else common_models.StackingMode.NORMAL
        builder = builder.stacking(common.StackingConfig().mode(mode))
    if percent:
        builder = builder.unit("percentunit")
    return builder


def _table(panel: str) -> table.Panel:
    return (
        table.Panel()
        .title(panels()[panel][0])
        .datasource(DATASOURCE)
        .with_target(ClickHouseQueryBuilder(panel, as_time_series=False))
    )


def _mix(panel: str) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(panels()[panel][0])
        .datasource(DATASOURCE)
        .with_target(ClickHouseQueryBuilder(panel, False))
    )


def _unscored() -> barchart.Panel:
    """Per task, a horizontal bar of the share it left unscored, stacked by reason; the panel's
    counts and languages stay in the query (Inspect > Data) but out of the bars."""
    reasons = [reason.value for reason in Unscored]
    hidden = DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": dict.fromkeys(("documents", "unscored", "unscored_share", "languages"), True)},
    )
    return (
        _mix("unscored")
        .x_field("task")
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .stacking(common_models.StackingMode.NORMAL)
        .unit("percentunit")
        .min(0)
        .max(1)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
        )
        .with_transformation(hidden)
        .description(f"Share of the range's documents each task did not score, by reason: {', '.join(reasons)}")
    )


def _layout() -> list[cogbuilder.Builder]:
    """The page's layout: the watched label's share beside throughput, volume beside the share by
    source, the volume by language beside the unscored share per task, then per describing task
    its share chart beside its mix, the tables last."""
    watched = watched_task().name
    per_task = [
        panel
        for task in described_by()
        for panel in (
            _series(f"{watched}_by_{task.name}", stacked=True, percent=True).height(9).span(16),
            _mix(f"{task.name}_mix").height(9).span(8),
        )
    ]
    return [
        stat.Panel()
        .title(panels()["totals"][0])
        .datasource(DATASOURCE)
        .with_target(ClickHouseQueryBuilder("totals", False))
        .height(4)
        .span(24),
        _series("negative_share").unit("percentunit").height(9).span(16),
        _series("stored_per_bucket", bars=True).height(9).span(8),
        _series("volume", stacked=True, bars=True).height(9).span(12),
        _series(f"{watched}_by_source", stacked=True, percent=True).height(9).span(12),
        _series("volume_by_lang", stacked=True, bars=True).height(9).span(16),
        _unscored().height(9).span(8),
        *per_task,
        _table("top_negative").height(10).span(12),
        _table("alerts").height(10).span(12),
        _table("documents").height(12).span(24),
        _table("models_in_use").height(6).span(24),
    ]


def build() -> dict:
    watched = watched_task().name
    board = (
        dashboard.Dashboard(f"BloomWatch: {watched}")
        .uid(f"bloomwatch-{watched}")
        .tags(["bloomwatch"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .variables([_variable(name) for name in dimensions()] + [dashboard.TextBoxVariable("q").label("Search")])
    )
    for panel in _layout():
        board = board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")

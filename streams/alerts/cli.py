"""`bloomwatch alerts list | show ID | ack ID | silence RULE[/GROUP] --for 2h | silences |
unsilence ID | check | run`.

list/show/ack and the silence commands go through the worker's API (in embedded mode the worker
owns the store); `run` is the one evaluator beside a ClickHouse server; `check` validates a rules file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import typer

alerts = typer.Typer(
    help="Anomaly alerts: list, inspect, acknowledge; silence, list and end silences; validate rules; run the evaluator."
)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def register(app: typer.Typer) -> None:
    app.add_typer(alerts, name="alerts")


def parse_duration(text: str) -> float:
    """'90s', '30m', '2h', '1d' or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r}: use e.g. 90s, 30m, 2h, 1d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _api(method: str, path: str, **kwargs):
    import httpx

    from bloomwatch.access import client_headers
    from bloomwatch.settings import get_settings

    url = f"{get_settings().worker_url}{path}"
    try:
        response = httpx.request(method, url, headers=client_headers(get_settings().access), timeout=15, **kwargs)
    except httpx.HTTPError as error:
        raise typer.Exit(
            _fail(f"{url}: {error} (is the worker running? `bloomwatch up` or `bloomwatch worker`)")
        ) from None
    if response.status_code >= 400:
        raise typer.Exit(_fail(f"{url}: HTTP {response.status_code}: {response.text}"))
    return response.json()


def _fail(message: str) -> int:
    typer.echo(message, err=True)
    return 1


@alerts.command("list")
def list_alerts(
    state: str = typer.Option(None, help="pending, firing or resolved (default: all)"),
    limit: int = typer.Option(50, help="most recent first"),
    as_json: bool = typer.Option(
        False, "--json", help="one JSON alert per line (as GET /api/alerts has it) instead of a table"
    ),
) -> None:
    """Alerts, most recently updated first."""
    from rich.table import Table
    from rich.text import Text

    from bloomwatch.output import print_table

    found = _api("GET", "/api/alerts", params={"limit": limit, **({"state": state} if state else {})})
    if as_json:
        for alert in found:
            typer.echo(json.dumps(alert))
        return
    table = Table("id", "state", "rule", "group", "severity", "observed", "baseline", "z", "started", "ack")
    for alert in found:
        cells = (
            alert["alert_id"], alert["state"], alert["rule"], alert["group_key"], alert["severity"],
            f"{alert['observed']:.3g}", f"{alert['baseline']:.3g}", f"{alert['statistic']:.1f}",
            alert["started_at"], alert["acknowledged_by"] or "",
        )  # fmt: skip
        table.add_row(*(Text(str(cell)) for cell in cells))  # a group key holds a publisher's source: not markup
    print_table(table, whole=("id",))


@alerts.command()
def show(alert_id: str) -> None:
    """One alert with its payload (evidence, examples, terms, dashboard link) as JSON."""
    typer.echo(json.dumps(_api("GET", f"/api/alerts/{alert_id}"), indent=2))


@alerts.command()
def silence(
    target: str = typer.Argument(..., help="RULE or RULE/GROUP, e.g. negative-share-by-source/source=acme-bank"),
    duration: str = typer.Option("2h", "--for", help="e.g. 30m, 2h, 1d"),
    by: str = typer.Option(None, "--by", help="who silences (default: $USER)"),
    comment: str = typer.Option("", help="why"),
) -> None:
    """No notifications for the rule (or one group of it) for a while; states are still recorded."""
    import getpass

    rule, _, group = target.partition("/")
    body = {
        "rule": rule,
        "group": group,
        "for_s": parse_duration(duration),
        "by": by or getpass.getuser(),
        "comment": comment,
    }
    created = _api("POST", "/api/silences", json=body)
    typer.echo(f"silenced {rule}{'/' + group if group else ''} until {created['ends_at']} (id {created['silence_id']})")


@alerts.command()
def silences(
    as_json: bool = typer.Option(False, "--json", help="one JSON silence per line instead of a table"),
) -> None:
    """The silences in force now: id (for `alerts unsilence ID`), rule, group, until when, by whom, why."""
    from rich.table import Table
    from rich.text import Text

    from bloomwatch.output import print_table

    found = _api("GET", "/api/silences")
    if as_json:
        for silence in found:
            typer.echo(json.dumps(silence))
        return
    table = Table("id", "rule", "group", "since", "until", "by", "comment")
    for s in found:
        cells = (
            s["silence_id"],
            s["rule"],
            s["group_key"] or "(every group)",
            s["starts_at"],
            s["ends_at"],
            s["created_by"],
            s["comment"],
        )
        table.add_row(*(Text(str(cell)) for cell in cells))  # a group or comment is anyone's text: not markup
    print_table(table, whole=("id",))


@alerts.command()
def unsilence(
    silence_id: str = typer.Argument(..., help="as `alerts silences` or `alerts silence` printed it"),
    by: str = typer.Option(None, "--by", help="who ends it (default: $USER)"),
) -> None:
    """End a silence now: the rule (or group) notifies again from the next evaluation."""
    import getpass

    ended = _api("POST", f"/api/silences/{quote(silence_id, safe='')}/end", json={"by": by or getpass.getuser()})
    group = f"/{ended['group_key']}" if ended["group_key"] else ""
    typer.echo(f"silence {ended['silence_id']} of {ended['rule']}{group} ended at {ended['ends_at']}")


@alerts.command()
def ack(alert_id: str, by: str = typer.Option(None, "--by", help="who acknowledges (default: $USER)")) -> None:
    """Mark an alert as acknowledged (someone is on it)."""
    import getpass

    alert = _api("POST", f"/api/alerts/{alert_id}/ack", json={"by": by or getpass.getuser()})
    typer.echo(
        f"{alert['alert_id']} ({alert['rule']} {alert['group_key']}, {alert['state']}) acknowledged by {alert['acknowledged_by']}"
    )


@alerts.command()
def check(
    path: str = typer.Argument(None, help="rules file (default: settings.alerts_rules or the shipped one)"),
) -> None:
    """Validate a rules file; errors name the file and the key."""
    from bloomwatch.alerts.rules import RuleFileError, load_rules
    from bloomwatch.settings import get_settings

    try:
        rules = load_rules(Path(path) if path else get_settings().alerts_rules)
    except RuleFileError as error:
        raise typer.Exit(_fail(str(error))) from None
    typer.echo(f"{len(rules.rules)} rules OK: {', '.join(rule.name for rule in rules.rules)}")


@alerts.command()
def run() -> None:
    """The one alert evaluator beside a ClickHouse server (server mode; workers do not evaluate).

    In embedded mode (chdb://) the worker evaluates and owns the store: do not run this.
    """
    import asyncio
    import logging

    from bloomwatch.alerts.rules import load_rules
    from bloomwatch.settings import get_settings
    from store.connect import connect
    from store.documents import DocumentStore
    from store.executor import StoreThread
    from streams.alerts.evaluator import AlertEvaluator
    from streams.alerts.notify import Notifier

    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = connect(settings.store)
    DocumentStore(client).ensure_schema()
    alerts = settings.alerts
    notifier = Notifier(alerts, settings.kafka)
    evaluator = AlertEvaluator(alerts, load_rules(alerts.alerts_rules), client, StoreThread(), notifier)
    typer.echo(
        f"evaluating alert rules on {settings.clickhouse_where} every {settings.alerts_interval_s}s -> topic {settings.topic_alerts}"
    )
    asyncio.run(evaluator.run_forever())

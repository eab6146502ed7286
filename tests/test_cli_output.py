"""Output written to a file or a pipe is whole: `models list` cuts no cell and has `--json`, and
`bloomwatch up`'s messages are one line each however long (issue 27, items 4 and 5). Each runs
the real code in its own process with stdout and stderr piped, as `> up.log` or `| grep` does."""

import json
import os
import subprocess
import sys
from pathlib import Path

from app.processes import bloomwatch_command
from training.data import SHARED_SOURCES
from training.registry import Registry

SHIPPED = Path(__file__).resolve().parent.parent / "models"


def _piped(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_models_list_piped_is_whole_and_json_has_every_version():
    registry = Registry(SHIPPED)
    versions = {(task, v.version) for task in ("base", "sentiment", "topic") for v in registry.versions(task)}

    table = _piped(bloomwatch_command("models", "list"), BLOOMWATCH_REGISTRY_DIR=str(SHIPPED)).stdout
    assert "…" not in table  # off a terminal rich assumed 80 columns and cut every cell
    rows = [line for line in table.splitlines() if line.startswith("│")]
    assert {tuple(cell.strip() for cell in row.split("│")[1:3]) for row in rows} == versions
    sentiment = registry.current("sentiment")
    assert ", ".join(f"{s} {m['acc']:.3f}" for s, m in sentiment.metrics["test"].items()) in table

    listed = _piped(bloomwatch_command("models", "list", "--json"), BLOOMWATCH_REGISTRY_DIR=str(SHIPPED)).stdout
    records = [json.loads(line) for line in listed.splitlines()]
    assert {(r["task"], r["version"]) for r in records} == versions and all(r["current"] for r in records)
    declared = {(task, v.version): ",".join(v.manifest["languages"]) for task in ("base", "sentiment", "topic") for v in registry.versions(task)}  # fmt: skip
    assert {(r["task"], r["version"]): r["languages"] for r in records} == declared
    assert set(declared.values()) == {"en", "de,es,fr,zh"}  # English models, and the multilingual sentiment line
    for r in records:  # a model's headline names the test splits in the languages it reads, not its transfer checks
        if r["task"] != "base":
            splits = [figure.rsplit(" ", 1)[0] for figure in r["headline"].split(", ")]
            assert {SHARED_SOURCES[split].lang for split in splits} <= set(r["languages"].split(",")), r


PRINT_WHERE_TO_LOOK = """
from bloomwatch.settings import get_settings
from app.up import _print_where_to_look
settings = get_settings()
_print_where_to_look(settings, settings.home / "logs")
"""


def test_up_messages_in_a_log_file_are_not_wrapped(tmp_path):
    home = tmp_path / ("a-deployment-directory-with-a-long-name-" * 3)  # every path line well over 80 columns
    printed = _piped([sys.executable, "-c", PRINT_WHERE_TO_LOOK], BLOOMWATCH_HOME=str(home), COLUMNS="").stderr
    lines = printed.splitlines()
    assert f"  logs               {home / 'logs'}" in lines
    assert f"  model registry     {home / 'models'}" in lines
    assert "  dashboard          http://127.0.0.1:6066/dashboard" in lines

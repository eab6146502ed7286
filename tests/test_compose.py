"""docker-compose.yml is checked here because no Docker engine runs on the CI machine: every
service must start a real `bloomwatch` command with options that exist, and every BLOOMWATCH_*
variable must be a real setting, so the server-mode file cannot drift from the code."""

from pathlib import Path

import pytest
import typer.main
import yaml

from bloomwatch.cli import app
from bloomwatch.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CLI = typer.main.get_command(app)
BLOOMWATCH_SERVICES = [name for name, spec in SERVICES.items() if spec.get("image", "").startswith("bloomwatch")]


def test_bloomwatch_services_exist():
    assert {"sentiment", "topic", "worker", "topics"} <= set(BLOOMWATCH_SERVICES)


@pytest.mark.parametrize("name", BLOOMWATCH_SERVICES)
def test_service_command_is_a_real_cli_command(name):
    command = SERVICES[name].get("command")
    if command is None:  # a tool container: the command is given on `docker compose run`
        return
    sub, args = CLI.commands[command[0]], list(command[1:])
    while hasattr(sub, "commands") and args and args[0] in sub.commands:  # a group: `alerts run`
        sub, args = sub.commands[args[0]], args[1:]
    known = {opt for param in sub.params if param.param_type_name == "option" for opt in param.opts}
    given = {arg for arg in args if arg.startswith("--")}
    assert given <= known, f"{name}: unknown options {given - known}"
    ctx = sub.make_context(command[0], args)  # parses values (types, choices)
    assert ctx.params or not sub.params


@pytest.mark.parametrize("name", BLOOMWATCH_SERVICES)
def test_service_environment_names_real_settings(name):
    fields = set(Settings.model_fields)
    for key in SERVICES[name].get("environment", {}):
        assert key.startswith("BLOOMWATCH_"), key
        assert key.removeprefix("BLOOMWATCH_").lower() in fields, f"{name}: {key} is not a setting"


def test_dependencies_and_volumes_are_declared():
    for name, spec in SERVICES.items():
        for dependency in spec.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in COMPOSE["volumes"], f"{name}: volume {source} not declared"


def test_dockerfile_copies_existing_paths():
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source

"""docker-compose.yml is checked here because no Docker engine runs on the CI machine: every
service must start a real `bloomwatch` command with options that exist, and every BLOOMWATCH_*
variable must be a real setting, so the server-mode file cannot drift from the code."""

import re
from pathlib import Path

import pytest
import typer.main
import yaml

from app.cli import app
from bloomwatch.settings import Settings
from bloomwatch.tasks import TASKS_FILE_VARIABLE
from store.connect import is_embedded

REPO = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = dict(
    line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines() if line and not line.startswith("#")
)


def _interpolated(text: str, env: dict[str, str]) -> str:
    """${NAME}, ${NAME:-default} and ${NAME:?error} filled in as `docker compose` does from .env."""

    def value(match: re.Match) -> str:
        name, operator, default = match[1], match[2] or "", match[3] or ""
        if env.get(name):
            return env[name]
        assert operator != ":?", f"{name} must be set"
        return default

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", value, text)


# the file as a stack started from .env.example sees it
COMPOSE = yaml.safe_load(_interpolated((REPO / "docker-compose.yml").read_text(), ENV_EXAMPLE))
SERVICES = COMPOSE["services"]
CLI = typer.main.get_command(app)
BLOOMWATCH_SERVICES = [name for name, spec in SERVICES.items() if spec.get("image", "").startswith("bloomwatch")]


def test_bloomwatch_services_exist():
    assert {"sentiment", "topic", "worker", "topics", "alerts", "retrain"} <= set(BLOOMWATCH_SERVICES)


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


# every BLOOMWATCH_* variable a process reads: the settings' fields, and the task table's file
KNOWN_VARIABLES = {f"BLOOMWATCH_{field.upper()}" for field in Settings.model_fields} | {TASKS_FILE_VARIABLE}


@pytest.mark.parametrize("name", BLOOMWATCH_SERVICES)
def test_service_environment_names_real_settings(name):
    for key in SERVICES[name].get("environment", {}):
        assert key.startswith("BLOOMWATCH_"), key
        assert key in KNOWN_VARIABLES, f"{name}: {key} is not a setting"


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


def _settings(name: str, monkeypatch) -> Settings:
    """The settings a service's container gets from its environment."""
    for key, value in SERVICES[name].get("environment", {}).items():
        monkeypatch.setenv(key, str(value))
    return Settings(_env_file=None)


def _mounts(name: str) -> dict[str, str]:
    """Container path -> volume or host path of a service (a host path may hold `${VAR:-default}`)."""
    mounts = (re.fullmatch(r"(.+):(/[^:]*)(:ro|:rw)?", volume) for volume in SERVICES[name].get("volumes", []))
    return {mount[2]: mount[1] for mount in mounts}


def test_retrain_scheduler_reads_clickhouse_bounded_and_promotes_into_the_servers_registry(monkeypatch):
    spec = SERVICES["retrain"]
    assert spec["command"] == ["retrain", "--schedule"]
    assert "deploy" not in spec and "scale" not in spec  # one scheduler
    settings = _settings("retrain", monkeypatch)
    assert not is_embedded(settings.store)  # server mode: labels, documents and audit rows straight from ClickHouse
    assert settings.retrain_threads == 1 and settings.retrain_nice >= 10 and 0 < float(spec["cpus"]) <= 2
    mounts = _mounts("retrain")
    assert mounts[str(settings.data_dir)] == _mounts("trainer")["/data"]  # the models' data: replay, fixed tests
    for server in ("sentiment", "topic"):  # their hot reload watches the registry the scheduler promotes in
        registry = str(_settings(server, monkeypatch).registry_dir)
        assert _mounts(server)[registry] == mounts[str(settings.registry_dir)] == "models"
        assert registry == str(settings.registry_dir)


def test_env_example_lists_every_variable_the_compose_file_reads():
    read = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    assert read == set(ENV_EXAMPLE), f"missing: {read - set(ENV_EXAMPLE)}, unused: {set(ENV_EXAMPLE) - read}"
    for key in ENV_EXAMPLE:
        assert not key.startswith("BLOOMWATCH_") or key in KNOWN_VARIABLES, key


def test_env_example_holds_no_secret_and_compose_none_either():
    for key, value in ENV_EXAMPLE.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN")):
            assert value in ("", "change-me"), key
    # a password the stack needs has no default in the compose file: it comes from .env or the start fails
    text = (REPO / "docker-compose.yml").read_text()
    assert re.findall(r"\$\{[A-Z_]*PASSWORD(:[-?][^}]*)\}", text) and all(
        default.startswith(":?") for default in re.findall(r"\$\{[A-Z_]*PASSWORD(:[-?][^}]*)\}", text)
    )
    datasource = (REPO / "dashboards/grafana/provisioning/datasources/clickhouse.yml").read_text()
    assert "password: $GRAFANA_CLICKHOUSE_PASSWORD" in datasource


def _dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions, each stage starting with those of the stage it builds on."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM (\S+) AS (\S+)", line):
            current = list(stages.get(match[1], []))
            stages[match[2]] = current
        elif line and not line.startswith((" ", "#")):
            current.append(line)
    return stages


@pytest.mark.parametrize("stage", ["base", "vllm-cpu", "vllm"])
def test_every_image_runs_as_an_unprivileged_user(stage):
    users = [line.split()[1] for line in _dockerfile_stages()[stage] if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), f"{stage} runs as {users[-1] if users else 'root'}"
    for name in BLOOMWATCH_SERVICES:  # and no service turns it back
        assert str(SERVICES[name].get("user", users[-1])).split(":")[0] not in ("root", "0"), name

"""Every `bloomwatch ... --help` page, rendered by the real CLI: on/off flags carry no `<bool>`
placeholder, a docstring's sentences are never cut by its own line breaks, and the pages say what
the commands do (`label FILE`; `up` adopts the shipped models) -- issue 27, items 8 and 10."""

import inspect

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app

ROOT = typer.main.get_command(app)
WIDE = {"terminal_width": 10_000, "max_content_width": 10_000, "prog_name": "bloomwatch"}  # wrapped only at this width


def _commands(group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):  # a group (typer builds on its own copy of click)
            yield from _commands(command, (*path, name))


COMMANDS = dict(_commands(ROOT))


def _help(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], **WIDE)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_has_no_type_placeholder_on_flags_and_whole_paragraphs(path):
    page = _help(*path)
    assert "<bool>" not in page
    for paragraph in inspect.cleandoc(COMMANDS[path].help or "").split("\n\n"):
        assert " ".join(paragraph.split()) in page, f"a line break inside: {paragraph!r}"


def test_label_help_shows_label_file():
    page = _help("label")
    assert "Usage: bloomwatch label [OPTIONS] FILE | COMMAND [ARGS]..." in page
    assert "`bloomwatch label FILE` publishes the human labels in FILE" in page


def test_up_help_says_it_adopts_the_shipped_models():
    page = _help("up")
    assert "an empty registry adopts the shipped ones from models/" in page
    assert "small model per task if the registry is empty" not in page

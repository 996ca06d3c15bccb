"""The command line as a new user tries it (issue #15, item 16): `--catalog` before or after the
command, `--version`, help text on every option, and the defaults shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.cli.main import _parser, main
from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import run_cli_inprocess

COMMANDS = ["init", "validate", "plan", "build", "ui"]


@pytest.mark.parametrize("command", COMMANDS)
def test_catalog_is_accepted_before_and_after_the_command(command):
    assert _parser().parse_args(["--catalog", "X", command]).catalog == Path("X")
    assert _parser().parse_args([command, "--catalog", "Y"]).catalog == Path("Y")
    assert _parser().parse_args([command]).catalog is None  # then $ASSETPIPE_CATALOG or ./assets_spec


def test_catalog_after_the_command_runs_that_catalog(tmp_path):
    root = write_catalog(tmp_path / "cat", {"campaigns/a.yaml": "campaign: a\nassets:\n  - {name: mug, prompt: A mug}\n"})
    code, out, err = run_cli_inprocess("validate", "--catalog", str(root), cwd=tmp_path)
    assert code == 0 and out.startswith("ok: 1 campaign, 1 variant"), err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip().startswith("assetpipe 0.")


def _help(*argv: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal's width


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_text(command, capsys):
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    bare = [a.option_strings for a in sub._actions if a.option_strings and not a.help]
    assert not bare, f"{command}: options without help: {bare}"
    assert "--catalog DIR" in _help(command, capsys=capsys)


def test_defaults_are_shown(capsys):
    ui = _help("ui", capsys=capsys)
    assert "(default: 127.0.0.1)" in ui and "(default: 3000)" in ui
    build = _help("build", capsys=capsys)
    assert "(default: None)" not in build and "(default: False)" not in build  # nothing to show for flags
    assert "locale=de" in build  # --select says what it takes


def test_the_readme_synopsis_is_what_the_parser_accepts():
    """Every command and option in README's "The command line" block exists (issue #15, item 18)."""
    from tests.helpers.paths import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The command line", 1)[1].split("```", 2)[1]
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    seen = set()
    rows: list[str] = []
    for line in block.strip().splitlines():  # an indented line continues the command above it
        if line.startswith(" ") and rows:
            rows[-1] += " " + line.strip()
        else:
            rows.append(line)
    for row in rows:
        words = row.split("  ")[0].split()  # the synopsis, not the comment after two spaces
        assert words[:2] == ["assetpipe", "[--catalog"], row
        command = words[3]
        assert command in commands, row
        seen.add(command)
        known = {o for a in commands[command]._actions for o in a.option_strings}
        for option in re.findall(r"--[a-z-]+", " ".join(words[4:])):
            assert option in known, f"{command} {option}"
    assert seen == set(commands)  # and every command is in the synopsis

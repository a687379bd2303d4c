"""Every command of every CLI (graphsync, graphsync-operator, kubectl graphsync) ends its --help with examples
and exit codes, and says the one version the package declares (no servers)."""

from __future__ import annotations

import argparse
from importlib import metadata

import pytest

import graphsync
from graphsync import cli as engine_cli
from graphsync.commands import helptext
from graphsync_operator import cli as operator_cli
from graphsync_operator.plugin import command as plugin

PROGRAMS = {
    "graphsync": engine_cli.parser,
    "graphsync-operator": operator_cli.parser,
    "kubectl-graphsync": plugin.parser,
}


def every_command() -> list[tuple[str, str, argparse.ArgumentParser]]:
    return [(program, path, parser) for program, build in PROGRAMS.items() for path, parser in helptext.walk(build())]


@pytest.mark.parametrize(("program", "path", "parser"), every_command(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_help_ends_with_examples_and_exit_codes(program: str, path: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    examples = text.split(helptext.EXAMPLES, 1)[1].split(helptext.EXIT_CODES, 1)[0]
    command = parser.prog.split()[-1] if path else None
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert lines, f"{program} {path}: no examples"
    # Each example is a command line of this very command (or its subcommands).
    if command is not None:
        assert all(command in line for line in lines), (program, path, lines)
    codes = text.split(helptext.EXIT_CODES, 1)[1].split()
    assert codes[0] == "0", f"{program} {path}: exit code 0 not said first"
    # Examples keep their lines: the formatter does not run them together.
    assert f"  {lines[0]}\n" in text


def test_a_command_without_a_page_is_refused_by_name() -> None:
    root = argparse.ArgumentParser(prog="tool")
    root.add_subparsers().add_parser("new")
    with pytest.raises(KeyError, match="tool new: no help page"):
        helptext.document(root, {"": helptext.Page(["tool new"])})


def test_the_version_is_the_installed_distribution_s(capsys: pytest.CaptureFixture[str]) -> None:
    assert graphsync.__version__ == metadata.version("graphsync")
    for program, build in PROGRAMS.items():
        with pytest.raises(SystemExit) as exited:
            build().parse_args(["--version"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.split() == [program, graphsync.__version__]

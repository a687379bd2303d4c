"""What ships and what stays in the checkout (pure): the engine and the operator hold no development code.

The substrate and the developer commands live in dev/graphsync_dev, a distribution of its own that
hack/bootstrap.sh installs beside the project and the image never does (tests/integration/
test_image_install.py builds the image's venv and looks inside it).
"""

from __future__ import annotations

import argparse
import importlib
import tomllib
from pathlib import Path

from graphsync import cli as engine_cli
from graphsync_dev import cli as dev_cli
from graphsync_operator import cli as operator_cli

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV = tomllib.loads((ROOT / "dev" / "pyproject.toml").read_text())
DEVELOPER_COMMANDS = {"up", "down", "status", "env", "build", "demo", "manifests", "gitops", "reference", "release"}


def commands(parser: argparse.ArgumentParser) -> set[str]:
    """The names of a command's subcommands."""
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def test_the_shipped_commands_offer_nothing_a_developer_alone_runs() -> None:
    assert "dev" not in commands(engine_cli.parser())
    assert not commands(operator_cli.parser()) & DEVELOPER_COMMANDS
    assert {"run", "worker", "crds"} <= commands(operator_cli.parser())  # what the pods and a user of the image run


def test_graphsync_dev_holds_the_developer_commands() -> None:
    assert commands(dev_cli.parser()) == DEVELOPER_COMMANDS
    assert dev_cli.parser().parse_args(["demo", "--engine"]).engine
    assert DEV["project"]["scripts"] == {"graphsync-dev": "graphsync_dev.cli:main"}


def test_the_shipped_project_finds_only_the_engine_and_the_operator() -> None:
    assert PROJECT["tool"]["setuptools"]["packages"]["find"] == {"where": ["operator"]}
    shipped = {path.name for path in (ROOT / "operator").iterdir() if (path / "__init__.py").is_file()}
    assert shipped == {"graphsync", "graphsync_operator"}
    assert not list((ROOT / "operator").rglob("devenv")), "the substrate belongs in dev/graphsync_dev"
    # Every script of the shipped project starts a shipped module.
    for target in PROJECT["project"]["scripts"].values():
        module = target.split(":")[0]
        assert module.split(".")[0] in shipped, target
        importlib.import_module(module)


def test_an_import_contract_keeps_the_development_package_out_of_what_ships() -> None:
    contracts = PROJECT["tool"]["importlinter"]["contracts"]
    assert any(
        set(c["source_modules"]) == {"graphsync", "graphsync_operator"} and c["forbidden_modules"] == ["graphsync_dev"]
        for c in contracts
        if c["type"] == "forbidden"
    )

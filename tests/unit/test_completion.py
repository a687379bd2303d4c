"""Shell completion of `graphsync` and `kubectl graphsync`: scripts generated from the parsers, run in a real bash
(no servers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from graphsync import cli as engine_cli
from graphsync.commands import completion
from graphsync_operator.plugin import command as plugin


def candidates(script: Path, function: str, *words: str) -> list[str]:
    """What bash offers after `words` (the last one being completed), from the generated script."""
    done = subprocess.run(
        ["bash", "-c", f'source "$0"; {function}_candidates "" "$@"', str(script), *words],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_the_tree_holds_every_command_with_its_options_and_their_values() -> None:
    found = completion.tree(engine_cli.parser())
    assert {"run", "validate", "check", "dlq", "completion"} <= set(found[""].commands)
    assert found["dlq"].commands == ("list", "replay")
    assert found["dlq list"].choices["-o"] == ("json", "yaml", "wide")
    assert "--json" not in found["dlq list"].options  # a hidden spelling is not offered


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_bash_completes_commands_subcommands_options_and_values(tmp_path: Path, shell: str) -> None:
    script = tmp_path / "graphsync.sh"
    # zsh's script is bash's behind bashcompinit, which bash lacks: check the function bash would run.
    text = completion.SCRIPTS[shell]("graphsync", completion.tree(engine_cli.parser()))
    script.write_text(text.replace("autoload -U +X bashcompinit && bashcompinit", ""))
    assert candidates(script, "_graphsync", "va") == ["validate"]
    assert candidates(script, "_graphsync", "dlq", "") == ["list", "replay", "-h", "--help"]
    assert candidates(script, "_graphsync", "dlq", "list", "-o", "") == ["json", "yaml", "wide"]
    assert candidates(script, "_graphsync", "dlq", "list", "-f", "p.yaml", "--a") == ["--all"]
    assert text.splitlines()[-1] == "complete -F _graphsync graphsync"


def test_kubectl_runs_the_plugin_s_helper_with_the_words_after_its_name(tmp_path: Path) -> None:
    helper = tmp_path / "kubectl_complete-graphsync"
    helper.write_text(completion.kubectl_helper("kubectl-graphsync", completion.tree(plugin.parser())))
    said = subprocess.run(["bash", str(helper), "conf"], capture_output=True, text=True, check=True).stdout.split()
    assert said == ["conflicts", ":4"]
    said = subprocess.run(
        ["bash", str(helper), "-n", "prod", "status", "-o", ""], capture_output=True, text=True, check=True
    ).stdout.split()
    assert said == ["json", "yaml", "wide", ":4"]


def test_fish_offers_each_command_s_words_once_its_path_is_seen() -> None:
    text = completion.fish("graphsync", completion.tree(engine_cli.parser()))
    lines = text.splitlines()
    assert any(
        line.startswith("complete -c graphsync -f -n 'true; and not __fish_seen_subcommand_from run") for line in lines
    )
    assert (
        "complete -c graphsync -n '__fish_seen_subcommand_from dlq && __fish_seen_subcommand_from list' "
        "-s o -x -a 'json yaml wide'"
    ) in lines


def test_the_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert engine_cli.main(["completion", "fish"]) == 0
    assert capsys.readouterr().out.startswith("# graphsync completion for fish")
    assert plugin.main(["completion", "kubectl"]) == 0
    assert capsys.readouterr().out.startswith("#!/usr/bin/env bash")

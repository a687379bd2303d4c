"""Git credentials by reference (no servers): the spec's rules name the field, the worker gets the token as an
environment variable and the SSH key and known hosts as files, and git gets them without a command line or a
config file holding them. Every file field of the spec is rendered as a file."""

from __future__ import annotations

import shlex
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from graphsync.connectors.files import credentials
from graphsync.spec.endpoints import SECRETS_DIR_ENV, SecretFile
from graphsync.spec.files import GitRepository
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.build.config import FILE_FIELDS
from tests.unit.builders_data import build, env_of, one, pod_spec

HTTPS = {"username": "bot", "token": {"secretKeyRef": {"name": "git-creds", "key": "token"}}}
SSH = {
    "privateKey": {"secretKeyRef": {"name": "git-ssh", "key": "id_ed25519"}},
    "knownHosts": {"secretKeyRef": {"name": "git-ssh", "key": "known_hosts"}},
}


def files_pipeline(git: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": {"files": {"git": git}},
        "target": {"neo4j": {"uri": "bolt://neo4j.example:7687"}},
        "mode": "incremental",
    }


@pytest.mark.parametrize(
    ("git", "message"),
    [
        (
            {"url": "ssh://git@host/kb.git", "https": {"token": {"env": "T"}}},
            "https: credentials for an http(s):// url",
        ),
        ({"url": "https://host/kb.git", "ssh": {"privateKey": {"path": "k"}, "knownHosts": {"path": "h"}}}, "ssh: "),
        ({"url": "ssh://git@host/kb.git", "ssh": {"privateKey": {"path": "k"}}}, "ssh.knownHosts"),
        ({"url": "https://host/kb.git", "https": {"username": "a b", "token": {"env": "T"}}}, "https.username"),
        ({"url": "https://host/kb.git", "https": {}}, "https.token"),
    ],
)
def test_git_credential_rules_name_the_field(git: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GitRepository.model_validate(git)
    assert message in str(caught.value)


def test_a_token_reaches_git_through_the_environment_of_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TOKEN", "s3cret")
    login = credentials.login(
        GitRepository.model_validate({"url": "https://host/kb.git", "https": {"token": {"env": "GIT_TOKEN"}}})
    )
    assert login.env == {"GIT_TERMINAL_PROMPT": "0", "GRAPHSYNC_GIT_USERNAME": "git", "GRAPHSYNC_GIT_TOKEN": "s3cret"}
    assert "s3cret" not in " ".join(login.options)
    assert login.options[:2] == ("-c", "credential.helper=")
    monkeypatch.delenv("GIT_TOKEN")
    with pytest.raises(ValueError, match=r"files\.git\.https\.token: environment variable GIT_TOKEN is not set"):
        credentials.login(
            GitRepository.model_validate({"url": "https://host/kb.git", "https": {"token": {"env": "GIT_TOKEN"}}})
        )


def test_ssh_logs_in_with_the_key_and_trusts_only_the_known_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("k")
    (tmp_path / "hosts").write_text("h")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    spec = {"url": "ssh://git@host/kb.git", "ssh": {"privateKey": {"path": "key"}, "knownHosts": {"path": "hosts"}}}
    login = credentials.login(GitRepository.model_validate(spec))
    command = shlex.split(login.env["GIT_SSH_COMMAND"])
    assert command[command.index("-i") + 1] == str(tmp_path / "key")
    assert f"UserKnownHostsFile={tmp_path / 'hosts'}" in command
    assert "StrictHostKeyChecking=yes" in command
    assert "BatchMode=yes" in command
    spec["ssh"]["knownHosts"] = {"path": "missing"}  # type: ignore[index]
    with pytest.raises(ValueError, match=r"files\.git\.ssh\.knownHosts: no file at"):
        credentials.login(GitRepository.model_validate(spec))


def test_no_credentials_still_never_waits_for_a_terminal() -> None:
    login = credentials.login(GitRepository.model_validate({"url": "https://host/kb.git"}))
    assert login == credentials.Login((), {"GIT_TERMINAL_PROMPT": "0"})


def test_the_worker_gets_the_token_as_an_env_var_and_the_ssh_files_as_files() -> None:
    built = build(files_pipeline({"url": "https://host/kb.git", "https": HTTPS}))
    engine_spec = yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])
    token = engine_spec["source"]["files"]["git"]["https"]["token"]
    assert token == {"env": "GRAPHSYNC_SECRET_SOURCE_FILES_GIT_HTTPS_TOKEN"}
    assert env_of(built)[token["env"]]["valueFrom"] == {"secretKeyRef": {"name": "git-creds", "key": "token"}}

    built = build(files_pipeline({"url": "ssh://git@host/kb.git", "ssh": SSH}))
    engine_spec = yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])
    folder = "graphsync-secret-source-files-git-ssh"
    assert engine_spec["source"]["files"]["git"]["ssh"] == {
        "privateKey": {"path": f"{folder}-privatekey/id_ed25519"},
        "knownHosts": {"path": f"{folder}-knownhosts/known_hosts"},
    }
    sources = {v["name"]: v for v in pod_spec(built)["volumes"]}["secrets"]["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["git-ssh", "git-ssh"]
    PipelineSpec.model_validate(engine_spec)


def _file_fields(model: type[BaseModel], section: str, seen: set[type[BaseModel]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if model in seen:
        return found
    seen.add(model)
    for name, info in model.model_fields.items():
        alias = info.alias or name
        for kind in _types(info.annotation):
            if kind is SecretFile:
                found.add((section, alias))
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= _file_fields(kind, alias, seen)
    return found


def _types(annotation: Any) -> list[Any]:
    """The classes an annotation names, through unions, containers and Annotated."""
    args = typing.get_args(annotation)
    return [t for arg in args for t in _types(arg)] if args else [annotation]


def test_every_file_field_of_the_spec_is_rendered_as_a_file() -> None:
    found = _file_fields(PipelineSpec, "", set())
    assert found, "no SecretFile found: the walk is broken"
    assert found <= FILE_FIELDS, found - FILE_FIELDS

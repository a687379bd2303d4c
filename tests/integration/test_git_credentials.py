"""A private repository on a Git host that asks who you are: the files pipeline logs in over HTTP with an access
token, and over SSH with a key and the host's known key, both given by reference (an environment variable, files
as the operator mounts them from Secrets); a wrong token, an unknown key or a host showing another key is refused
with git's reason, the token never repeated, and nothing is written."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
import redis

from graphsync.connectors.files.repository import GitUnavailable, open_repository
from graphsync.spec.endpoints import SECRETS_DIR_ENV
from graphsync.spec.pipeline import PipelineSpec
from tests import githosts, repos
from tests.integration.test_file_sync import Target, falkordb_target, spec, sync

TOKEN = "ghp_not-a-real-token-0123456789"
__all__ = ["falkordb_target"]  # a fixture of the file sync tests, used here too


def hosted(tmp_path: Path) -> tuple[Path, repos.Corpus]:
    """A bare repository under `tmp_path/hosted`, as a Git host keeps it, with a small corpus committed."""
    work = tmp_path / "work"
    repos.init(work)
    corpus = repos.generate(30)
    repos.commit(work, corpus, "knowledge base")
    bare = tmp_path / "hosted" / "kb.git"
    bare.parent.mkdir()
    repos.git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare, corpus


def files_spec(target: Target, url: str, **credentials: Any) -> dict[str, Any]:
    pipeline = spec(target, Path("/unused"), mode="snapshot")
    pipeline["source"]["files"]["git"] = {"url": url, "ref": "main", **credentials}
    return pipeline


def refused(pipeline: dict[str, Any], cache: Path) -> str:
    """Why fetching the repository failed, as the run reports it (a worker retries, its status saying so)."""
    files = PipelineSpec.model_validate(pipeline).source.files
    assert files is not None
    with pytest.raises(GitUnavailable) as caught:
        open_repository(files, cache).resolve()
    return str(caught.value)


def test_a_private_repository_is_fetched_with_a_token_over_http(
    tmp_path: Path,
    falkordb_target: Target,
    falkordb_client: redis.Redis,
    graph_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _bare, corpus = hosted(tmp_path)
    with githosts.https_git(tmp_path / "hosted", "graphsync-bot", TOKEN) as base:
        url = f"{base}/kb.git"
        monkeypatch.setenv("GIT_TOKEN", TOKEN)
        monkeypatch.setenv("WRONG_TOKEN", "ghp_wrong")
        cases = {
            "wrong token": (
                {"https": {"username": "graphsync-bot", "token": {"env": "WRONG_TOKEN"}}},
                "Authentication failed",
            ),
            "no credentials": ({}, "terminal prompts disabled"),
        }
        for case, (credentials, reason) in cases.items():
            told = refused(files_spec(falkordb_target, url, **credentials), tmp_path / unique(case))
            assert reason in told, f"{case}: {told}"
            assert "ghp_" not in told, f"{case}: the token is repeated: {told}"
        assert falkordb_client.exists(graph_name) == 0, "written to the target"

        pipeline = files_spec(falkordb_target, url, https={"username": "graphsync-bot", "token": {"env": "GIT_TOKEN"}})
        sync(pipeline)
    assert repos.actual(falkordb_target.read) == repos.expected(corpus)


def test_a_private_repository_is_fetched_over_ssh_with_a_key_and_the_hosts_known_key(
    tmp_path: Path,
    falkordb_target: Target,
    falkordb_client: redis.Redis,
    graph_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bare, corpus = hosted(tmp_path)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    key = githosts.keypair(secrets / "id_ed25519")
    githosts.keypair(secrets / "stranger")
    other_host = githosts.keypair(tmp_path / "other_host")
    with githosts.ssh_git(tmp_path / "sshd", key) as (port, known_hosts):
        (secrets / "known_hosts").write_text(known_hosts.read_text())
        public = Path(f"{other_host}.pub").read_text().split()
        (secrets / "wrong_hosts").write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}{bare}"
        # As in a worker pod: files relative to the folder the operator mounts Secrets under.
        monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
        cases = {
            "unknown key": (
                {"privateKey": {"path": "stranger"}, "knownHosts": {"path": "known_hosts"}},
                "Permission denied",
            ),
            "another host key": (
                {"privateKey": {"path": "id_ed25519"}, "knownHosts": {"path": "wrong_hosts"}},
                "Host key verification failed",
            ),
        }
        for case, (ssh, reason) in cases.items():
            told = refused(files_spec(falkordb_target, url, ssh=ssh), tmp_path / unique(case))
            assert reason in told, f"{case}: {told}"
        assert falkordb_client.exists(graph_name) == 0, "written to the target"

        ssh = {"privateKey": {"path": "id_ed25519"}, "knownHosts": {"path": "known_hosts"}}
        sync(files_spec(falkordb_target, url, ssh=ssh))
    assert repos.actual(falkordb_target.read) == repos.expected(corpus)


def unique(case: str) -> str:
    return "cache-" + case.replace(" ", "-")

"""How `git clone` and `git fetch` log in: the spec's credentials turned into git options and environment.

Nothing secret is ever on a command line (where `ps` shows it) or in the mirror's config: an HTTPS token
reaches git through a credential helper that reads it from the environment of that one git process, and
an SSH key and known hosts are files the worker mounts read-only. The helper's text is constant.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from graphsync.spec.files import GitRepository

# Answers git's `get` with the user name and token of the process's environment; ignores store and erase.
_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    '"$GRAPHSYNC_GIT_USERNAME" "$GRAPHSYNC_GIT_TOKEN"; }; f'
)


@dataclass(frozen=True)
class Login:
    """`options` go before git's subcommand; `env` is added to the environment of that git process."""

    options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def login(spec: GitRepository) -> Login:
    """The files and the token resolved now (a missing one names its field)."""
    # Never wait for a password typed at a terminal nobody watches.
    env = {"GIT_TERMINAL_PROMPT": "0"}
    options: tuple[str, ...] = ()
    if spec.https is not None:
        # The empty helper first: no helper configured elsewhere on the machine is asked.
        options = ("-c", "credential.helper=", "-c", f"credential.helper={_HELPER}")
        env["GRAPHSYNC_GIT_USERNAME"] = spec.https.username
        env["GRAPHSYNC_GIT_TOKEN"] = spec.https.token.resolve("files.git.https.token")
    if spec.ssh is not None:
        key = spec.ssh.private_key.resolve("files.git.ssh.privateKey")
        hosts = spec.ssh.known_hosts.resolve("files.git.ssh.knownHosts")
        command = [
            "ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
        ]  # fmt: skip
        env["GIT_SSH_COMMAND"] = shlex.join(command)
    return Login(options, env)

"""The files source: graph documents read from a Git repository or a directory."""

from __future__ import annotations

import enum
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.endpoints import URL_LENGTH, CleanUrl, SecretFile, SecretValue
from graphsync.spec.identifiers import Identifier


class GitHttps(SpecModel):
    """Logging in to a Git server over HTTP(S): a user name and an access token (or password)."""

    username: str = Field(default="git", pattern=r"^[^\s:@/]{1,128}$", description="many servers take any name")
    token: SecretValue = Field(description="the access token or password")


class GitSsh(SpecModel):
    """Logging in to a Git server over SSH: a private key, and the host keys the server must show (no others)."""

    private_key: SecretFile = Field(description="an unencrypted private key (OpenSSH format)")
    known_hosts: SecretFile = Field(description="the server's host keys, as in ~/.ssh/known_hosts")


class GitRepository(SpecModel):
    """A Git repository, mirrored by the worker and read at a ref."""

    url: CleanUrl = Field(
        max_length=URL_LENGTH,
        pattern=r"^(https?://|git://|ssh://|file://|/)[^\s]+$",
        description="a URL the worker can reach, or an absolute path to a local repository",
    )
    ref: str = Field(
        default="HEAD", pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_./]{0,254}$", description="branch, tag or commit to sync"
    )
    https: GitHttps | None = Field(default=None, description="credentials for an http(s):// URL")
    ssh: GitSsh | None = Field(default=None, description="credentials for an ssh:// URL")

    @model_validator(mode="after")
    def _credentials_fit_the_url(self) -> Self:
        if self.https is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError("https: credentials for an http(s):// url; this url is not one")
        if self.ssh is not None and not self.url.startswith("ssh://"):
            raise ValueError("ssh: credentials for an ssh:// url; this url is not one")
        return self


class ParserRef(SpecModel):
    """A parser for files matching `pattern`: `module:function`, importable in the worker, see `files.parsers`."""

    pattern: str = Field(pattern=r"^[^\s]{1,255}$", description="fnmatch pattern over the repository-relative path")
    function: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="module:function of a parser registered in the worker image",
    )


class Identity(enum.StrEnum):
    # A node is keyed by the id its document gives it; documents can link to each other's nodes.
    ID = "id"
    # A node is keyed by a hash of its labels and properties: identical content is stored once.
    CONTENT = "content"


class FilesSource(SpecModel):
    """Graph documents in files: each file's nodes and edges, synced as one document."""

    git: GitRepository | None = None
    directory: str | None = Field(default=None, pattern=r"^/[^\x00]*$", description="an absolute path")
    include: tuple[str, ...] = Field(
        default=("*.json",), min_length=1, description="fnmatch patterns over repository-relative paths"
    )
    parsers: tuple[ParserRef, ...] = Field(default=(), description="checked before the built-in JSON parser")
    identity: Identity = Field(
        default=Identity.ID, description="id: nodes keyed by their documents' ids; content: by a hash of their content"
    )
    label: Identifier = Field(default="Entity", description="the label every document node has; its key is unique")
    key_property: Identifier | None = Field(
        default=None, description="the node key's property; defaults to id, or content_hash by content"
    )
    workers: int = Field(default=4, ge=1, le=64, description="files parsed and written in parallel")
    max_concurrent_writes: int = Field(default=2, ge=1, le=64, description="workers writing to the target at once")
    poll_interval_seconds: float = Field(default=30.0, gt=0, description="incremental mode: how often to look")
    max_file_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        description="a larger file is not read (a parser holds it whole, and so would the worker): it is "
        "reported as failed with its size",
    )

    @property
    def node_key(self) -> str:
        return self.key_property or ("id" if self.identity is Identity.ID else "content_hash")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.git is None) == (self.directory is None):
            raise ValueError("set exactly one of git or directory")
        return self

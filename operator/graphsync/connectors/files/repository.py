"""Reading files: from a Git repository (by commit, through the git command) or from a directory.

Listings stream (nothing holds a whole repository's file list), and each worker
reads file contents through its own reader.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from graphsync.connectors.files import credentials
from graphsync.spec.files import FilesSource, GitRepository


@dataclass(frozen=True)
class FileEntry:
    """A file to sync, or (`hash` None) one that was deleted."""

    path: str
    hash: str | None


class Reader(Protocol):
    def read(self, entry: FileEntry) -> bytes: ...
    def close(self) -> None: ...


class GitError(ValueError):
    """The repository cannot be read (not reachable, no such ref); the message says which."""


class GitUnavailable(ConnectionError):
    """The remote did not answer a clone or fetch (network, server, credentials); an outage, retried with
    backoff and shown as such, never taken for an invalid spec."""


class Repository(Protocol):
    def resolve(self) -> str | None: ...
    def has_commit(self, commit: str) -> bool: ...
    def files(self, commit: str | None) -> Iterator[FileEntry]: ...
    def count(self, commit: str | None) -> int: ...
    def changed(self, base: str, commit: str) -> Iterator[FileEntry]: ...
    def existing(self, commit: str | None, paths: Sequence[str]) -> set[str]: ...
    def entries(self, commit: str | None, paths: Sequence[str]) -> list[FileEntry]:
        """These paths as they are at `commit` (hash None: not there)."""
        ...

    def reader(self, max_bytes: int) -> Reader:
        """Reads files of at most `max_bytes` (a larger one raises FileTooLarge, read no further)."""
        ...


class Git:
    """A local path read in place, or a URL (`file://` included) mirrored under `cache` and fetched on each resolve."""

    def __init__(self, spec: GitRepository, include: Sequence[str], cache: Path) -> None:
        self._spec = spec
        self._include = include
        if spec.url.startswith("/"):
            self._dir, self._remote = Path(spec.url), False
        else:
            self._dir = cache / hashlib.sha256(spec.url.encode()).hexdigest()[:16]
            self._remote = True

    def resolve(self) -> str:
        """The commit the ref points at now (fetched first, for a remote)."""
        if self._remote:
            try:
                signed = credentials.login(self._spec)
                if not (self._dir / "HEAD").exists():
                    self._dir.parent.mkdir(parents=True, exist_ok=True)
                    _git(None, "clone", "--mirror", "--quiet", self._spec.url, str(self._dir), login=signed)
                else:
                    # A mirror follows force-pushes too (+refs/*:refs/*): commits no ref reaches may go.
                    _git(self._dir, "fetch", "--quiet", "--prune", "origin", login=signed)
            except GitError as exc:
                raise GitUnavailable(f"files.git.url: {exc}") from exc
        return _git(self._dir, "rev-parse", "--verify", "--end-of-options", f"{self._spec.ref}^{{commit}}").strip()

    def has_commit(self, commit: str) -> bool:
        """Whether the mirror still holds `commit` (a force-push and a fresh mirror may have lost it)."""
        done = subprocess.run(
            ["git", "-C", str(self._dir), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, check=False
        )
        return done.returncode == 0

    def files(self, commit: str | None) -> Iterator[FileEntry]:
        for record in _records(self._dir, "ls-tree", "-r", "-z", "--full-tree", str(commit)):
            meta, _, path = record.partition("\t")
            _mode, kind, blob = meta.split(" ")
            if kind == "blob" and _included(path, self._include):
                yield FileEntry(path, blob)

    def count(self, commit: str | None) -> int:
        return sum(1 for _ in self.files(commit))

    def changed(self, base: str, commit: str) -> Iterator[FileEntry]:
        """Files added, modified or deleted between two commits (a rename is a delete and an add)."""
        fields = iter(_records(self._dir, "diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, commit))
        for meta in fields:
            path = next(fields)
            _old_mode, _new_mode, _old, new, status = meta.lstrip(":").split(" ")
            if _included(path, self._include):
                yield FileEntry(path, None if status == "D" else new)

    def existing(self, commit: str | None, paths: Sequence[str]) -> set[str]:
        if not paths:
            return set()
        out = _git(self._dir, "ls-tree", "-z", "--name-only", "--full-tree", str(commit), "--", *paths)
        return {p for p in out.split("\0") if p}

    def entries(self, commit: str | None, paths: Sequence[str]) -> list[FileEntry]:
        if not paths:
            return []
        blobs = {}
        for record in _records(self._dir, "ls-tree", "-z", "--full-tree", str(commit), "--", *paths):
            meta, _, path = record.partition("\t")
            _mode, kind, blob = meta.split(" ")
            if kind == "blob":
                blobs[path] = blob
        return [FileEntry(path, blobs.get(path)) for path in paths]

    def reader(self, max_bytes: int) -> Reader:
        return _BlobReader(self._dir, max_bytes)


class Directory:
    """A directory tree; a file's hash is its SHA-256, and there are no commits."""

    def __init__(self, root: str, include: Sequence[str]) -> None:
        self._root = Path(root)
        self._include = include

    def resolve(self) -> None:
        if not self._root.is_dir():
            raise GitError(f"files.directory: {self._root} is not a directory")

    def has_commit(self, commit: str) -> bool:
        return False

    def files(self, commit: str | None) -> Iterator[FileEntry]:
        for path in self._paths():
            yield FileEntry(path, hashlib.sha256((self._root / path).read_bytes()).hexdigest())

    def count(self, commit: str | None) -> int:
        return sum(1 for _ in self._paths())

    def _paths(self) -> Iterator[str]:
        for folder, dirs, names in os.walk(self._root):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder, name).relative_to(self._root).as_posix()
                if _included(path, self._include):
                    yield path

    def changed(self, base: str, commit: str) -> Iterator[FileEntry]:
        raise GitError("a directory has no commits to compare")

    def existing(self, commit: str | None, paths: Sequence[str]) -> set[str]:
        return {p for p in paths if (self._root / p).is_file()}

    def entries(self, commit: str | None, paths: Sequence[str]) -> list[FileEntry]:
        present = self.existing(commit, paths)
        return [
            FileEntry(p, hashlib.sha256((self._root / p).read_bytes()).hexdigest() if p in present else None)
            for p in paths
        ]

    def reader(self, max_bytes: int) -> Reader:
        return _FileReader(self._root, max_bytes)


def open_repository(spec: FilesSource, cache: Path) -> Git | Directory:
    if spec.git is not None:
        return Git(spec.git, spec.include, cache)
    if spec.directory is None:
        raise ValueError("files: set git or directory")
    return Directory(spec.directory, spec.include)


_SKIP = 1 << 20


def _included(path: str, include: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in include)


def _git(cwd: Path | None, *args: str, login: credentials.Login | None = None) -> str:
    """`login`: how a clone or fetch logs in to the remote."""
    login = login or credentials.Login()
    command = ["git", *login.options, *(["-C", str(cwd)] if cwd else []), *args]
    env = {**os.environ, **login.env} if login.env else None
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def _records(cwd: Path, *args: str) -> Iterator[str]:
    """NUL-separated output of a git command, streamed."""
    with subprocess.Popen(["git", "-C", str(cwd), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        stdout: IO[bytes] | None = proc.stdout
        if stdout is None:
            raise GitError(f"git {args[0]}: no output")
        pending = b""
        while chunk := stdout.read(65536):
            pending += chunk
            *done, pending = pending.split(b"\0")
            for record in done:
                yield record.decode()
        error = proc.stderr.read().decode() if proc.stderr else ""
        if proc.wait() != 0:
            raise GitError(f"git {args[0]} failed: {error.strip()}")


class FileTooLarge(ValueError):
    """A file above `files.maxFileBytes`: failed with its size instead of held whole in memory."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, more than files.maxFileBytes ({limit})")


class _BlobReader:
    """One `git cat-file --batch` process: blobs by hash without a process per file."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._max = max_bytes
        self._proc = subprocess.Popen(
            ["git", "-C", str(directory), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def read(self, entry: FileEntry) -> bytes:
        stdin, stdout = self._proc.stdin, self._proc.stdout
        if stdin is None or stdout is None or entry.hash is None:
            raise GitError(f"{entry.path}: nothing to read")
        stdin.write(entry.hash.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().decode().split()
        if len(header) != 3:
            raise GitError(f"{entry.path}: blob {entry.hash} is missing")
        size = int(header[2])
        if size > self._max:
            # The blob is on the pipe all the same: passed over in pieces, so the next read finds its header.
            left = size + 1
            while left:
                left -= len(stdout.read(min(left, _SKIP)))
            raise FileTooLarge(size, self._max)
        data = stdout.read(size)
        stdout.read(1)
        return data

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class _FileReader:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max = max_bytes

    def read(self, entry: FileEntry) -> bytes:
        path = self._root / entry.path
        size = path.stat().st_size
        if size > self._max:
            raise FileTooLarge(size, self._max)
        return path.read_bytes()

    def close(self) -> None:
        return None

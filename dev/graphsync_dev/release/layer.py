"""A directory tree as an image layer: a gzipped tar, hashed while it is written.

A layer is addressed twice: the digest of its compressed bytes (the blob, in the manifest) and the
digest of the uncompressed tar (the diff_id, in the config). One pass computes both.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

# Kernel filesystems and scratch space: mounted or empty in a container, so their folders ship empty.
EMPTIED = ("dev", "proc", "sys", "tmp", "run", "var/cache/apt", "var/lib/apt/lists")


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Hashing:
    """A write-only file that hashes and counts what passes through it to another file."""

    def __init__(self, out: _Sink) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        """Nothing to do: gzip flushes on close, and the file under it is closed by its owner."""


@dataclass(frozen=True)
class Written:
    digest: str  # of the gzipped blob
    diff_id: str  # of the tar inside
    size: int


def entries(root: Path, keep: Callable[[str], bool]) -> Iterator[str]:
    """Relative paths under `root`, sorted and parents first, that `keep` accepts; EMPTIED folders' contents
    skipped. Sorting makes the same tree give the same tar."""
    for folder, dirs, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        dirs.sort()
        if relative in EMPTIED:
            dirs.clear()
        for name in sorted(dirs + ([] if relative in EMPTIED else files)):
            path = os.path.normpath(os.path.join(relative, name))
            if keep(path):
                yield path


def write(root: Path, target: Path, keep: Callable[[str], bool] = lambda _: True) -> Written:
    """Write the tree under `root` (paths `keep` accepts) to `target` as a gzipped tar layer.

    Owners are written by number (a container knows no host names); modes and times as they are:
    Debian's own .pyc files are checked against their sources' times, which must survive."""
    with target.open("wb") as out:
        blob = _Hashing(out)
        with gzip.GzipFile(fileobj=blob, mode="wb", mtime=0, compresslevel=6) as compressed:
            plain = _Hashing(compressed)
            # A stream (mode w|) writes forward only, which is all _Hashing offers.
            with tarfile.open(fileobj=cast("IO[bytes]", plain), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path in entries(root, keep):
                    info = tar.gettarinfo(root / path, arcname=path)
                    info.uname = info.gname = ""
                    if info.isreg():
                        with (root / path).open("rb") as data:
                            tar.addfile(info, data)
                    else:
                        tar.addfile(info)
    return Written(f"sha256:{blob.sha.hexdigest()}", f"sha256:{plain.sha.hexdigest()}", blob.size)

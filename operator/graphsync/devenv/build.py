"""Build once, cache outside the repository, keyed by version and recipe.

A cache entry's key is the tool's version plus a hash of the recipe files (go.mod,
go.sum, pom.xml, ...), so editing a recipe rebuilds and a fresh clone of the same
recipe reuses the build. Builds go to a temporary folder that is renamed into
place, so an interrupted build never leaves a half-filled cache entry; a file lock
keeps two concurrent runs from building the same thing twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from graphsync.devenv.paths import cache_dir
from graphsync.devenv.process import SubstrateError


def recipe_key(version: str, files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{version}-{digest.hexdigest()[:12]}"


def cached_build(name: str, key: str, build: Callable[[Path], None]) -> Path:
    """Return the cache folder for `name`/`key`, running `build(folder)` if it is missing."""
    root = cache_dir() / name
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if final.is_dir():
        return final
    with (root / f".{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return final
        staging = root / f".{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        build(staging)
        staging.rename(final)
    return final


def run_build_step(argv: Sequence[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    """Run one build command; on failure raise with the tail of its output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(list(argv), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SubstrateError(f"build step {' '.join(argv)} failed ({result.returncode}); log {log}:\n{tail}")

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
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from graphsync_dev.paths import cache_dir
from graphsync_dev.process import SubstrateError


def recipe_key(version: str, files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{version}-{digest.hexdigest()[:12]}"


# What a first build takes on a 2-core machine with empty Go module and Maven caches (measured), until this
# machine has built it once: then its own last time (`.seconds` next to the cache entries) is the estimate.
TYPICAL_SECONDS = {"k8s": 420.0, "helm": 150.0, "kwok": 80.0, "etcd": 60.0, "kstatus": 30.0, "neo4j": 120.0}
TICK_SECONDS = 30.0
_TIMING = ".seconds"


def cached_build(name: str, key: str, build: Callable[[Path], None], *, out: TextIO | None = None) -> Path:
    """Return the cache folder for `name`/`key`, running `build(folder)` if it is missing; a build says what it
    builds, how long it should take and, every TICK_SECONDS, how far along it is (on `out`, stderr by default)."""
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
        expected = _expected(root, name)
        seconds = _timed(name, expected, lambda: build(staging), out or sys.stderr)
        staging.rename(final)
        (root / _TIMING).write_text(f"{seconds:.0f}\n")
    return final


def _expected(root: Path, name: str) -> float | None:
    try:
        return float((root / _TIMING).read_text())
    except (OSError, ValueError):
        return TYPICAL_SECONDS.get(name)


def _timed(name: str, expected: float | None, work: Callable[[], None], out: TextIO) -> float:
    """Run `work`, saying it started, how it goes every TICK_SECONDS and when it is done; returns its seconds."""
    started = time.monotonic()
    print(starting_line(name, expected), file=out, flush=True)
    done = threading.Event()

    def tick() -> None:
        while not done.wait(TICK_SECONDS):
            print(progress_line(name, time.monotonic() - started, expected), file=out, flush=True)

    ticker = threading.Thread(target=tick, name=f"build-{name}", daemon=True)
    ticker.start()
    try:
        work()
    finally:
        done.set()
        ticker.join()
    seconds = time.monotonic() - started
    print(f"built {name} in {duration(seconds)}", file=out, flush=True)
    return seconds


def duration(seconds: float) -> str:
    """3m05s, 42s."""
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def starting_line(name: str, expected: float | None) -> str:
    about = f"expect about {duration(expected)}" if expected is not None else "no estimate yet"
    return f"building {name} (once, then cached; {about})"


def progress_line(name: str, elapsed: float, expected: float | None) -> str:
    """How far a build is: time so far and, while within the estimate, about how much is left (pure)."""
    so_far = f"building {name}: {duration(elapsed)} so far"
    if expected is None:
        return so_far
    if elapsed < expected:
        return f"{so_far}, about {duration(expected - elapsed)} left"
    return f"{so_far}, longer than the usual {duration(expected)} (a busy machine or a slow network): still going"


def run_build_step(argv: Sequence[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    """Run one build command; on failure raise with the tail of its output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(list(argv), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SubstrateError(f"build step {' '.join(argv)} failed ({result.returncode}); log {log}:\n{tail}")

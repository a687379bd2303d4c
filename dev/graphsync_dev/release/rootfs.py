"""The image's base: a Debian root filesystem made by mmdebstrap from the Debian mirror, with the packages
the Dockerfile installs at the versions it pins.

Built once and cached in ~/.cache/graphsync/rootfs, keyed by the release (suite), the mirrors and the
package pins, so a changed pin rebuilds and everything else reuses it (about a minute on two cores).
The same trimming as Debian's -slim images: no manual pages, documentation (but copyrights) or locales.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from graphsync_dev import build
from graphsync_dev.process import SubstrateError

# Debian 12 ("bookworm") with its updates and security suites: the pinned versions live in the latter two.
SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# What Debian's -slim images leave out (debuerreotype's slimification), as dpkg path filters.
SLIM = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)
# The point release the Dockerfile's base names (debian:12.15-slim): the root must be the same one.
BASES = {"debian:12.15-slim": "12.15"}


def mmdebstrap_argv(packages: list[str], target: Path) -> list[str]:
    """The mmdebstrap command for a minimal root holding `packages` (name=version) (pure)."""
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", f"--include={','.join(packages)}"]
    argv += [f"--dpkgopt={option}" for option in SLIM]
    return [*argv, SUITE, str(target), *MIRRORS]


def ensure(base: str, packages: list[str]) -> Path:
    """The cached root for `base` with `packages`, built on first use."""
    if base not in BASES:
        raise SubstrateError(f"the release builder makes roots for {', '.join(BASES)}, not {base}")
    if shutil.which("mmdebstrap") is None:
        raise SubstrateError("mmdebstrap is missing: apt-get install mmdebstrap (the image's base is built with it)")
    key = f"{BASES[base]}-{_digest([*packages, *MIRRORS, *SLIM])}"

    def make(staging: Path) -> None:
        root = staging / "root"
        build.run_build_step(mmdebstrap_argv(packages, root), cwd=staging, log=staging / "build.log")
        release = (root / "etc" / "debian_version").read_text().strip()
        if release != BASES[base]:
            raise SubstrateError(f"the mirror gave Debian {release}, the Dockerfile names {base}: update both")

    return build.cached_build("rootfs", key, make) / "root"


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:12]

"""The kubectl plugin for krew: an archive holding `kubectl-graphsync` and the packages it runs on, and the
krew manifest that points at the archive by URL and sha256.

The plugin is Python (the engine's own code reads dead letters and conflicts), so the archive carries the
project and its runtime lock installed for CPython 3.11 on linux/amd64 (the wheels of its native parts are
platform-specific), beside a launcher that runs them with the machine's python3.11.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from graphsync_dev.release.version import PROJECT_URL, Release

PLATFORM = {"os": "linux", "arch": "amd64"}
LAUNCHER = """#!/bin/sh
# kubectl graphsync: the plugin's packages are in lib/ beside this file (krew links it into its bin/).
here=$(dirname "$(readlink -f "$0")")
PYTHONPATH="$here/lib${PYTHONPATH:+:$PYTHONPATH}" exec "${GRAPHSYNC_PYTHON:-python3.11}" \\
  -c 'import sys; from graphsync_operator.plugin.command import main; sys.exit(main())' "$@"
"""


def manifest(release: Release, archive: str, sha256: str) -> dict[str, Any]:
    """The krew Plugin manifest (pure)."""
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "graphsync"},
        "spec": {
            "version": release.tag,
            "homepage": PROJECT_URL,
            "shortDescription": "Status, dead letters and steering of graphsync",
            "description": (
                "kubectl graphsync shows the state of graphsync's SyncPipelines and ReconciliationJobs, reads "
                "their dead letters, conflicts and history, and starts backfills, resets and reconciliations."
            ),
            "caveats": "The plugin runs on Python 3.11: it needs python3.11 on PATH (or GRAPHSYNC_PYTHON).",
            "platforms": [
                {
                    "selector": {"matchLabels": dict(PLATFORM)},
                    "uri": f"{release.download_url}/{archive}",
                    "sha256": sha256,
                    "bin": "kubectl-graphsync",
                }
            ],
        },
    }


def install_lib(source: Path, wheel: Path, lib: Path, uv: Path) -> None:
    """The runtime lock and the project's wheel installed into `lib` for CPython 3.11 on linux/amd64."""
    argv = [str(uv), "pip", "install", "-q", "--target", str(lib), "--python-version", "3.11"]
    argv += ["--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:", "--no-compile"]
    argv += ["-r", str(source / "requirements" / "runtime.txt"), str(wheel)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise ValueError(f"installing the plugin's packages failed: {done.stderr.strip()[-2000:]}")


def archive(lib: Path, target: Path) -> str:
    """Write the plugin archive (the launcher and lib/) and return its sha256."""
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("kubectl-graphsync")
        data = LAUNCHER.encode()
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for path in sorted(lib.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            member = tar.gettarinfo(path, arcname=f"lib/{path.relative_to(lib)}")
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            if member.isreg():
                with path.open("rb") as content:
                    tar.addfile(member, content)
            else:
                tar.addfile(member)
    return hashlib.sha256(target.read_bytes()).hexdigest()

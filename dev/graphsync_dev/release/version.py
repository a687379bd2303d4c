"""The one version of a release and every name derived from it.

pyproject.toml's `version` is the only place a version is written by hand: the installed package reads it
back (`graphsync.__version__`, from the distribution's metadata), and the chart's version and appVersion,
the image tag, the install file's image and the krew manifest are derived from it here (a test fails
when Chart.yaml or the generated install file disagrees).
"""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROJECT_URL = "https://github.com/graphsync/graphsync"
IMAGE_REPOSITORY = "ghcr.io/graphsync/graphsync"
# Where `helm push` sends the chart: oci://ghcr.io/graphsync/charts/graphsync:VERSION.
CHART_REGISTRY = "oci://ghcr.io/graphsync/charts"
DESCRIPTION = "A Kubernetes operator that keeps graph databases in sync with their sources, declaratively."


def declared_version(root: Path) -> str:
    """The project's version as pyproject.toml declares it (the checkout's, not whatever is installed)."""
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    if not isinstance(version, str) or not version:
        raise ValueError("pyproject.toml declares no [project] version")
    return version


@dataclass(frozen=True)
class Release:
    """A release: its version, and the commit and time it is built from (the image's revision and created)."""

    version: str
    revision: str
    created: str  # RFC 3339, the commit's time: the same commit gives the same labels

    @classmethod
    def of(cls, root: Path) -> Release:
        revision, created = commit(root)
        return cls(version=declared_version(root), revision=revision, created=created)

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def image(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.version}"

    def pinned_image(self, digest: str) -> str:
        """The image by tag and digest: readable, and a registry serves exactly the bytes built."""
        return f"{self.image}@{digest}"

    @property
    def download_url(self) -> str:
        """Where the release's files are published (the krew manifest points here)."""
        return f"{PROJECT_URL}/releases/download/{self.tag}"

    def files(self) -> dict[str, str]:
        """Artifact kind -> file name, for every artifact of the release."""
        v = self.version
        return {
            "image": f"graphsync-{v}-image.oci.tar",
            "image-contents": f"graphsync-{v}-image-contents.txt",
            "chart": f"graphsync-{v}.tgz",
            "chart-oci": f"graphsync-{v}-chart.oci.tar",
            "install": "install.yaml",
            "wheel": f"graphsync-{v}-py3-none-any.whl",
            "sdist": f"graphsync-{v}.tar.gz",
            "plugin": f"kubectl-graphsync-{v}-linux-amd64.tar.gz",
            "krew": "graphsync.yaml",
        }


def commit(root: Path) -> tuple[str, str]:
    """HEAD's hash and commit time (UTC, RFC 3339); 'unknown' and now outside a git checkout."""
    done = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%H %ct"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        return "unknown", rfc3339(datetime.now(UTC))
    revision, seconds = done.stdout.split()
    return revision, rfc3339(datetime.fromtimestamp(int(seconds), UTC))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

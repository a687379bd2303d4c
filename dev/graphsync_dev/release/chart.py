"""The chart as a release artifact: `helm package` of charts/graphsync, and the same package as the OCI
artifact `helm push` uploads (a config holding Chart.yaml as JSON and one layer, the package)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from graphsync_dev.release import layout
from graphsync_dev.release.version import Release

# Helm's media types for a chart in an OCI registry (helm.sh/helm/v3/pkg/registry).
CONFIG = "application/vnd.cncf.helm.config.v1+json"
CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def metadata(chart: Path) -> dict[str, Any]:
    found = yaml.safe_load((chart / "Chart.yaml").read_text())
    if not isinstance(found, dict):
        raise ValueError(f"{chart}/Chart.yaml is not a mapping")
    return found


def disagreements(meta: dict[str, Any], release: Release) -> list[str]:
    """How Chart.yaml's versions differ from the release's (pure; empty: they agree)."""
    return [
        f"Chart.yaml {field} is {meta.get(field)!r}, the project is {release.version!r}"
        for field in ("version", "appVersion")
        if str(meta.get(field)) != release.version
    ]


def package(helm: Path, chart: Path, out: Path, release: Release) -> Path:
    """`helm package` into `out`; refuses a chart whose versions are not the release's."""
    meta = metadata(chart)
    wrong = disagreements(meta, release)
    if wrong:
        raise ValueError("; ".join(wrong) + ": set them to the project's version")
    done = subprocess.run(
        [str(helm), "package", str(chart), "--destination", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise ValueError(f"helm package failed: {done.stderr.strip()}")
    return out / f"{meta['name']}-{release.version}.tgz"


def artifact(packaged: Path, chart: Path, target: Path, release: Release) -> layout.Descriptor:
    """The OCI artifact of a packaged chart, as a layout in `target`; returns its manifest."""
    meta = metadata(chart)
    oci = layout.Layout(target)
    config = oci.add_json(meta, CONFIG)
    content = oci.add_bytes(packaged.read_bytes(), CONTENT)
    annotations = {
        "org.opencontainers.image.title": str(meta["name"]),
        "org.opencontainers.image.version": release.version,
        "org.opencontainers.image.description": " ".join(str(meta.get("description", "")).split()),
        "org.opencontainers.image.created": release.created,
        "org.opencontainers.image.source": "https://github.com/graphsync/graphsync",
    }
    manifest = oci.add_manifest(config, [content], annotations)
    oci.write_index(manifest, release.version)
    return manifest

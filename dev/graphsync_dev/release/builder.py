"""Every artifact of a release into one folder, in the order each needs the one before: the wheel (the plugin
is built from it), the image (its digest pins the install file), the chart, the install file, the plugin
and its krew manifest; then SHA256SUMS and release.json, which lists each file with its size."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from graphsync_dev.release import chart, image, install, krew, layout, packages
from graphsync_dev.release.version import Release


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(source: Path, out: Path, *, helm: Path, uv: Path, with_image: bool = True) -> dict[str, Any]:
    """Build the release of the checkout at `source` into `out` (emptied first); returns what release.json
    says. Without the image (`with_image=False`, for a quick look) the install file keeps its tag."""
    release = Release.of(source)
    names = release.files()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    summary: dict[str, Any] = {"version": release.version, "revision": release.revision, "created": release.created}

    built = packages.build(source, out, uv)
    wheel = out / names["wheel"]
    if sorted(p.name for p in built) != sorted([names["wheel"], names["sdist"]]):
        raise ValueError(f"uv build made {[p.name for p in built]}")
    wrong = packages.problems(packages.metadata(wheel), release.version)
    if wrong:
        raise ValueError(f"the wheel's metadata is incomplete: {'; '.join(wrong)}")

    chart_dir = source / "charts" / "graphsync"
    packaged = chart.package(helm, chart_dir, out, release)
    with tempfile.TemporaryDirectory(prefix="graphsync-release-") as tmp:
        chart_layout = Path(tmp) / "chart"
        summary["chart"] = {"manifest": chart.artifact(packaged, chart_dir, chart_layout, release).digest}
        layout.archive(chart_layout, out / names["chart-oci"])

        installed = (source / "manifests" / "install.yaml").read_text()
        if with_image:
            image_layout = Path(tmp) / "image"
            made = image.write(source, image_layout, release)
            layout.archive(image_layout, out / names["image"])
            (out / names["image-contents"]).write_text(made.contents)
            summary["image"] = {
                "reference": release.pinned_image(made.digest),
                "digest": made.digest,
                "base layer": made.base_digest,
                "compressed bytes": made.size,
                "unpacked bytes": made.unpacked,
            }
            installed = install.header(installed, release.image, made.digest)
        (out / names["install"]).write_text(installed)

        lib = Path(tmp) / "plugin"
        krew.install_lib(source, wheel, lib, uv)
        digest = krew.archive(lib, out / names["plugin"])
    (out / names["krew"]).write_text(yaml.safe_dump(krew.manifest(release, names["plugin"], digest), sort_keys=False))

    files = {kind: out / name for kind, name in names.items() if (out / name).exists()}
    summary["files"] = {kind: {"name": p.name, "bytes": p.stat().st_size} for kind, p in files.items()}
    (out / "SHA256SUMS").write_text("".join(f"{sha256(p)}  {p.name}\n" for p in sorted(files.values())))
    (out / "release.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

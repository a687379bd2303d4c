"""`make release`, run up to the push: the builder writes every artifact into a folder, and each is checked as
the tool that consumes it would (a registry's digest checks, the image's own interpreter under chroot on a
read-only root, the wheel's metadata, krew's sha256, the plugin's launcher), and the image and the chart
pushed into a throwaway registry and read back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_dev import gotools
from graphsync_dev.release import builder, chart, layout, packages, registry
from graphsync_dev.release.dockerfile import Recipe
from graphsync_dev.release.version import Release
from tests.dockerfile import ROOT

pytestmark = pytest.mark.integration

RELEASE = Release.of(ROOT)
NAMES = RELEASE.files()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("release")
    summary = builder.build(ROOT, out, helm=gotools.ensure("helm"), uv=Path(sys.executable).parent / "uv")
    return out, summary


def unpacked(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def blob(root: Path, digest: str) -> bytes:
    return (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def manifest_of(root: Path) -> tuple[str, dict[str, Any]]:
    [entry] = json.loads((root / "index.json").read_text())["manifests"]
    return entry["digest"], json.loads(blob(root, entry["digest"]))


def test_every_artifact_is_there_with_its_checksum(built: tuple[Path, dict[str, Any]]) -> None:
    out, summary = built
    assert {path.name for path in out.iterdir()} >= {*NAMES.values(), "SHA256SUMS", "release.json"}
    sums = {
        name: digest for digest, name in (line.split("  ") for line in (out / "SHA256SUMS").read_text().splitlines())
    }
    assert set(sums) == set(NAMES.values())
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    assert json.loads((out / "release.json").read_text()) == summary
    assert summary["version"] == RELEASE.version


def test_the_image_is_a_sound_oci_image_with_the_release_labels(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, summary = built
    root = unpacked(out / NAMES["image"], tmp_path / "layout")
    assert layout.check(root) == []
    digest, manifest = manifest_of(root)
    assert digest == summary["image"]["digest"]
    config = json.loads(blob(root, manifest["config"]["digest"]))
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == RELEASE.version
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == RELEASE.revision
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == "debian:12.15-slim"
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == len(config["history"]) == 3
    # The base layer is the cached root as it is: every build from one cache entry has the same one.
    assert manifest["annotations"]["io.graphsync.image.base.layer"] == manifest["layers"][0]["digest"]
    with tarfile.open(root / "blobs" / "sha256" / manifest["layers"][1]["digest"].removeprefix("sha256:")) as user:
        assert "etc/passwd" in user.getnames()  # the final stage's useradd, and little else
        assert len(user.getnames()) < 30, user.getnames()
    # What it holds, listed beside it: the Dockerfile's pinned packages and the release itself.
    held = (out / NAMES["image-contents"]).read_text().splitlines()
    assert {f"debian {package}" for package in Recipe.read(ROOT / "Dockerfile").packages()} <= set(held)
    assert f"python graphsync={RELEASE.version}" in held
    # The install file runs exactly this image, operator and workers alike.
    text = (out / NAMES["install"]).read_text()
    assert text.count(f"{RELEASE.image}@{digest}") >= 3  # the header, the operator, the workers' image


def test_the_image_starts_on_a_read_only_root_with_its_bytecode(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = built
    root = unpacked(out / NAMES["image"], tmp_path / "layout")
    _, manifest = manifest_of(root)
    config = json.loads(blob(root, manifest["config"]["digest"]))
    image = tmp_path / "root"
    image.mkdir()
    for entry in manifest["layers"]:
        with tarfile.open(root / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")) as tar:
            tar.extractall(image, numeric_owner=True, filter="fully_trusted")
    site = next(image.glob("opt/graphsync/lib/python3.11/site-packages"))
    [pyc] = (site / "graphsync_operator" / "worker" / "__pycache__").glob("command.cpython-311.pyc")
    # PEP 552 flags: hash-based (bit 0), source unchecked (bit 1 clear).
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1
    env = dict(item.split("=", 1) for item in config["config"]["Env"])
    command = " ".join([*config["config"]["Entrypoint"], "--version"])
    script = (
        f"mount --bind {image} {image} && mount -o remount,bind,ro {image}"
        f" && exec chroot --userspec={config['config']['User']} {image} {command}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert RELEASE.version in done.stdout


def test_the_chart_package_and_its_oci_artifact(built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, summary = built
    with tarfile.open(out / NAMES["chart"]) as tar:
        meta = yaml.safe_load(tar.extractfile("graphsync/Chart.yaml").read())  # type: ignore[union-attr]
        assert any(name.startswith("graphsync/templates/") for name in tar.getnames())
    assert (meta["version"], meta["appVersion"]) == (RELEASE.version, RELEASE.version)
    root = unpacked(out / NAMES["chart-oci"], tmp_path / "chart")
    assert layout.check(root) == []
    digest, manifest = manifest_of(root)
    assert digest == summary["chart"]["manifest"]
    assert manifest["config"]["mediaType"] == chart.CONFIG
    assert json.loads(blob(root, manifest["config"]["digest"]))["version"] == RELEASE.version
    [content] = manifest["layers"]
    assert content["mediaType"] == chart.CONTENT
    assert blob(root, content["digest"]) == (out / NAMES["chart"]).read_bytes()


def test_the_wheel_and_sdist_carry_full_metadata(built: tuple[Path, dict[str, Any]]) -> None:
    out, _ = built
    assert packages.problems(packages.metadata(out / NAMES["wheel"]), RELEASE.version) == []
    with zipfile.ZipFile(out / NAMES["wheel"]) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    assert tops == {"graphsync", "graphsync_operator", f"graphsync-{RELEASE.version}.dist-info"}
    with tarfile.open(out / NAMES["sdist"]) as sdist:
        names = set(sdist.getnames())
    prefix = f"graphsync-{RELEASE.version}"
    assert {f"{prefix}/LICENSE", f"{prefix}/README.md", f"{prefix}/pyproject.toml", f"{prefix}/PKG-INFO"} <= names


def test_the_krew_manifest_names_the_plugin_archive_that_runs(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = built
    manifest = yaml.safe_load((out / NAMES["krew"]).read_text())
    [platform] = manifest["spec"]["platforms"]
    archive = out / NAMES["plugin"]
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert platform["uri"].endswith("/" + archive.name)
    assert manifest["spec"]["version"] == RELEASE.tag
    plugin = unpacked(archive, tmp_path / "plugin")
    # As krew installs it: a link in its bin/ to the launcher; any CPython 3.11 runs it (here, this one).
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubectl-graphsync").symlink_to(plugin / platform["bin"])
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GRAPHSYNC_PYTHON": sys.executable}
    done = subprocess.run(
        [str(tmp_path / "bin" / "kubectl-graphsync"), "--help"], env=clean, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "status" in done.stdout
    assert os.access(plugin / "kubectl-graphsync", os.X_OK)


def test_a_registry_takes_the_image_and_the_chart_as_built(built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The push itself, into a throwaway registry on loopback: it names each by the digest the release
    recorded (the install file pins that one), crane validates every blob, helm pulls the chart."""
    out, summary = built
    image = unpacked(out / NAMES["image"], tmp_path / "image")
    chart_layout = unpacked(out / NAMES["chart-oci"], tmp_path / "chart")
    with registry.serving(tmp_path / "registry.log") as served:
        assert served.push(image, "graphsync/graphsync", RELEASE.version) == summary["image"]["digest"]
        reference = f"{served.host}/graphsync/graphsync:{RELEASE.version}"
        assert served.run("validate", "--remote", reference).startswith("PASS")
        labels = json.loads(served.run("config", reference))["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == RELEASE.version
        assert served.push(chart_layout, "charts/graphsync", RELEASE.version) == summary["chart"]["manifest"]
        pulled = f"oci://{served.host}/charts/graphsync"
        shown = subprocess.run(
            [str(gotools.ensure("helm")), "show", "chart", pulled, "--version", RELEASE.version, "--plain-http"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["version"] == RELEASE.version
    assert summary["chart"]["manifest"] in shown.stderr  # helm names what it pulled by its digest

"""The release's files other than the image: one version everywhere, the install file pinned to the image,
the krew manifest, the wheel's metadata (pure parts; tests/integration/test_release.py builds them all)."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

import graphsync
from graphsync_dev.commands.release import size_text
from graphsync_dev.release import chart, install, krew, packages
from graphsync_dev.release.version import IMAGE_REPOSITORY, PROJECT_URL, Release, declared_version
from tests.dockerfile import ROOT

VERSION = declared_version(ROOT)
RELEASE = Release(version="1.2.3", revision="abc", created="2026-12-01T00:00:00Z")
DIGEST = "sha256:" + "ab" * 32


def test_every_version_is_the_projects() -> None:
    """pyproject.toml says it; the chart, the install file, the installed package and the dev tools repeat it."""
    meta = chart.metadata(ROOT / "charts" / "graphsync")
    assert chart.disagreements(meta, Release(VERSION, "", "")) == []
    assert graphsync.__version__ == VERSION  # the installed metadata: run bootstrap after a bump
    dev = tomllib.loads((ROOT / "dev" / "pyproject.toml").read_text())["project"]["version"]
    assert dev == VERSION
    generated = (ROOT / "manifests" / "install.yaml").read_text()
    assert set(re.findall(rf"{re.escape(IMAGE_REPOSITORY)}:(\S+)", generated)) == {VERSION}


def test_a_chart_of_another_version_is_named() -> None:
    wrong = chart.disagreements({"version": "1.2.3", "appVersion": "1.2.2"}, RELEASE)
    assert wrong == ["Chart.yaml appVersion is '1.2.2', the project is '1.2.3'"]


def test_the_names_follow_the_version() -> None:
    files = RELEASE.files()
    assert files["wheel"] == "graphsync-1.2.3-py3-none-any.whl"
    assert files["chart"] == "graphsync-1.2.3.tgz"
    assert all("1.2.3" in name for kind, name in files.items() if kind not in ("install", "krew"))
    assert RELEASE.image == f"{IMAGE_REPOSITORY}:1.2.3"
    assert RELEASE.pinned_image(DIGEST) == f"{IMAGE_REPOSITORY}:1.2.3@{DIGEST}"
    assert RELEASE.download_url == f"{PROJECT_URL}/releases/download/v1.2.3"


def test_the_install_file_runs_the_release_image_by_digest() -> None:
    text = f"image: {RELEASE.image}\n  value: {RELEASE.image}\n  note: quay.io/other/graphsync:1.2.3\n"
    pinned = install.pin(text, RELEASE.image, DIGEST)
    assert pinned.count(f"{RELEASE.image}@{DIGEST}") == 2
    assert "quay.io/other/graphsync:1.2.3\n" in pinned
    assert install.header(text, RELEASE.image, DIGEST).splitlines()[0].endswith(f"{RELEASE.image}@{DIGEST}")


def test_the_generated_install_file_can_be_pinned() -> None:
    generated = (ROOT / "manifests" / "install.yaml").read_text()
    image = f"{IMAGE_REPOSITORY}:{VERSION}"
    pinned = yaml.safe_load_all(install.pin(generated, image, DIGEST))
    [deployment] = [d for d in pinned if d and d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{image}@{DIGEST}"
    # The workers the operator starts run the same image.
    assert f"{image}@{DIGEST}" in [variable.get("value") for variable in container["env"]]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("image: nothing/here:1\n", "does not name"),
        (f"a: {IMAGE_REPOSITORY}:1.2.3\nb: {IMAGE_REPOSITORY}:1.0\n", "other"),
    ],
)
def test_an_install_file_that_would_run_another_image_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        install.pin(text, RELEASE.image, DIGEST)


def test_the_krew_manifest_points_at_the_archive_by_url_and_sha256() -> None:
    made = krew.manifest(RELEASE, "kubectl-graphsync-1.2.3-linux-amd64.tar.gz", "f" * 64)
    assert (made["apiVersion"], made["kind"], made["metadata"]["name"]) == (
        "krew.googlecontainertools.github.com/v1alpha2",
        "Plugin",
        "graphsync",
    )
    spec = made["spec"]
    assert spec["version"] == "v1.2.3"
    assert spec["homepage"] == PROJECT_URL
    assert "\n" not in spec["shortDescription"]  # a few words on one line, as `kubectl krew search` shows it
    [platform] = spec["platforms"]
    assert platform["selector"] == {"matchLabels": {"os": "linux", "arch": "amd64"}}
    assert platform["uri"] == f"{RELEASE.download_url}/kubectl-graphsync-1.2.3-linux-amd64.tar.gz"
    assert platform["sha256"] == "f" * 64
    # kubectl finds plugins by their file name: the binary is the entry point pyproject.toml installs.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert platform["bin"] == "kubectl-graphsync"
    assert "kubectl-graphsync" in scripts


def test_the_plugin_archive_holds_the_launcher_and_the_packages(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "graphsync_operator" / "__pycache__").mkdir(parents=True)
    (lib / "graphsync_operator" / "__init__.py").write_text("")
    (lib / "graphsync_operator" / "__pycache__" / "x.pyc").write_text("")
    digest = krew.archive(lib, tmp_path / "plugin.tar.gz")
    assert digest == hashlib.sha256((tmp_path / "plugin.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "plugin.tar.gz") as tar:
        assert tar.getnames() == ["kubectl-graphsync", "lib/graphsync_operator", "lib/graphsync_operator/__init__.py"]
        launcher = tar.getmember("kubectl-graphsync")
        assert launcher.mode == 0o755
        script = tar.extractfile(launcher)
        assert script is not None
        text = io.TextIOWrapper(script).read()
    assert subprocess.run(["sh", "-n"], input=text, text=True, check=False).returncode == 0
    assert "graphsync_operator.plugin.command import main" in text


def test_the_wheel_metadata_is_complete_when_every_field_is_there() -> None:
    fields = {key: ["x"] for key in packages.REQUIRED}
    fields |= {"Version": ["1.2.3"], "License-Expression": ["Apache-2.0"], "License-File": ["LICENSE"]}
    fields["Description"] = ["# graphsync"]
    assert packages.problems(fields, "1.2.3") == []
    del fields["Classifier"]
    fields["License-Expression"] = ["MIT"]
    assert packages.problems(fields, "1.2.4") == [
        "no Classifier",
        "Version is ['1.2.3'], not 1.2.4",
        "License-Expression is ['MIT'], not Apache-2.0",
    ]


def test_pyproject_declares_what_the_metadata_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert project["readme"] == "README.md"
    assert project["requires-python"].startswith(">=3.11")
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(project["urls"])


def test_the_command_says_sizes_as_registries_do() -> None:
    assert [size_text(n) for n in (887, 33_294, 114_472_960)] == ["887 B", "33 KB", "114.5 MB"]

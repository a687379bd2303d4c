"""The image's build stage, run here: there is no container runtime to build the image, so its
install step is executed as written (with the image's paths under a temporary root) and the result
must run the commands the pods run. A Dockerfile that only looks like CI's install is not enough.

The same built tree shows the image carries no development code: the substrate and the developer
commands (dev/graphsync_dev) are installed into .venv by hack/bootstrap.sh, never by the image."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.dockerfile import ROOT, stages

pytestmark = pytest.mark.integration

PREFIX = "/opt/graphsync"
COMMANDS = ("graphsync", "graphsync-operator")


def build_stage(root: Path) -> Path:
    """Run the first stage's WORKDIR, COPY, ENV and RUN under `root`; the image's venv, as built."""
    # The machine's own settings for reaching the package index (its CA bundle, say) pass through,
    # as a builder's would; the caller's virtualenv does not.
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{root / 'bin'}:/usr/bin:/bin"
    (root / "bin").mkdir(parents=True)
    # The base's `python3.11` (Debian's) is the interpreter the lock was compiled for, as ours is.
    for name in ("python", "python3.11"):
        (root / "bin" / name).symlink_to(sys.executable)
    cwd = root
    for word, rest in stages()[0][1:]:
        if word == "WORKDIR":
            cwd = root / rest.lstrip("/")
            cwd.mkdir(parents=True, exist_ok=True)
        elif word == "ENV":
            env |= dict(item.split("=", 1) for item in shlex.split(rest))
        elif word == "COPY":
            *sources, target = shlex.split(rest)
            for source in sources:
                destination = cwd / target / Path(source).name if target.endswith("/") else cwd / target
                destination.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, destination)
        elif word == "RUN" and "apt-get" in rest:
            continue  # the base's packages: this machine's python and git stand in for them
        elif word == "RUN":
            command = rest.replace(PREFIX, str(root / PREFIX.lstrip("/")))
            done = subprocess.run(
                ["bash", "-c", command], check=False, cwd=cwd, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"RUN {rest}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        else:
            raise AssertionError(f"the build stage uses {word}, which this test does not know how to run")
    return root / PREFIX.lstrip("/")


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's venv, built once for this module's tests."""
    return build_stage(tmp_path_factory.mktemp("image"))


def test_the_build_stage_installs_the_commands_the_pods_run(image_venv: Path, tmp_path: Path) -> None:
    venv = image_venv
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    clean = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    for command in (["graphsync", "--version"], ["graphsync-operator", "--version"]):
        done = subprocess.run(command, env=clean, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert version in done.stdout, done.stdout
    # What the operator's Deployment and the worker pods run.
    for command in (["graphsync-operator", "run", "--help"], ["graphsync-operator", "worker", "sync", "--help"]):
        done = subprocess.run(command, env=clean, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    # The installer itself does not ship in the image.
    assert not (venv / "bin" / "uv").exists()
    # The image runs the versions CI tested: every runtime pin is what the venv holds.
    frozen = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"], env=clean, capture_output=True, text=True, check=True
    ).stdout.lower()
    for line in (ROOT / "requirements" / "runtime.txt").read_text().lower().splitlines():
        if "==" in line and not line.startswith("#"):
            assert line.split(";")[0].strip().replace("_", "-") in frozen.replace("_", "-"), line
    assert os.access(venv / "bin" / "graphsync-operator", os.X_OK)


# Imports every module of the shipped packages, as the image's own interpreter finds them.
IMPORT_ALL = """
import importlib, pkgutil
import graphsync, graphsync_operator
names = []
for package in (graphsync, graphsync_operator):
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(found.name)
        names.append(found.name)
print(len(names))
"""


def test_the_image_holds_no_development_code(image_venv: Path, tmp_path: Path) -> None:
    site = next(image_venv.glob("lib/python3*/site-packages"))
    installed = {path.name for path in site.iterdir()}
    assert {"graphsync", "graphsync_operator"} <= installed
    assert not [name for name in installed if "graphsync_dev" in name or "graphsync-dev" in name], installed
    assert not list(site.rglob("devenv")), "the substrate is development code"
    assert not (image_venv / "bin" / "graphsync-dev").exists()
    # Every file the project installed is the engine's or the operator's (or its own metadata and scripts).
    [record] = site.glob("graphsync-*.dist-info/RECORD")
    tops = {Path(line.split(",")[0]).parts[0] for line in record.read_text().splitlines() if line}
    packages = {top for top in tops if not top.endswith(".dist-info") and top != ".."}
    assert packages == {"graphsync", "graphsync_operator"}
    # Run away from the checkout, so nothing but the image's venv can be imported.
    clean = {"PATH": f"{image_venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=tmp_path, env=clean, capture_output=True, text=True, check=False)

    python = str(image_venv / "bin" / "python")
    absent = run(python, "-c", "import graphsync_dev")
    assert "No module named 'graphsync_dev'" in absent.stderr, absent.stderr
    # Every shipped module imports without the development package: none of them needs it.
    imported = run(python, "-c", IMPORT_ALL)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert int(imported.stdout) > 100, imported.stdout
    # The shipped commands offer nothing a developer alone runs (--help lists each subcommand indented by four).
    offered = {
        command: set(re.findall(r"^    ([a-z][\w-]*)", run(command, "--help").stdout, flags=re.MULTILINE))
        for command in COMMANDS
    }
    assert "dev" not in offered["graphsync"]
    assert {"run", "worker"} <= offered["graphsync-operator"]
    assert not offered["graphsync-operator"] & {"demo", "manifests", "gitops", "reference"}

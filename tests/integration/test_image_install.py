"""The image's build stage, run here: there is no container runtime to build the image, so its
install step is executed as written (with the image's paths under a temporary root) and the result
must run the commands the pods run. A Dockerfile that only looks like CI's install is not enough."""

from __future__ import annotations

import os
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


def build_stage(root: Path) -> Path:
    """Run the first stage's WORKDIR, COPY, ENV and RUN under `root`; the image's venv, as built."""
    # The machine's own settings for reaching the package index (its CA bundle, say) pass through,
    # as a builder's would; the caller's virtualenv does not.
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{root / 'bin'}:/usr/bin:/bin"
    (root / "bin").mkdir(parents=True)
    # The base image's `python` is the interpreter the lock was compiled for, as ours is.
    (root / "bin" / "python").symlink_to(sys.executable)
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
        elif word == "RUN":
            command = rest.replace(PREFIX, str(root / PREFIX.lstrip("/")))
            done = subprocess.run(
                ["bash", "-c", command], check=False, cwd=cwd, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"RUN {rest}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        else:
            raise AssertionError(f"the build stage uses {word}, which this test does not know how to run")
    return root / PREFIX.lstrip("/")


def test_the_build_stage_installs_the_commands_the_pods_run(tmp_path: Path) -> None:
    venv = build_stage(tmp_path)
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

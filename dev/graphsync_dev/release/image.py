"""The release image, built as the Dockerfile says but without an engine.

The base root (rootfs.py) is copied twice: in one copy the build stage runs (its COPY steps copied in,
its RUN steps executed under chroot, with the builder's own CA bundle mounted so the package index is
reached as a builder would reach it); in the other the final stage's user is created. The venv the build
made is moved into the final root. Three layers, as an engine would commit them: the base as cached, what
the final stage's RUN steps changed (its user), and /opt/graphsync; a config holding the final stage's
user, environment, labels, entrypoint and command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphsync_dev.process import SubstrateError
from graphsync_dev.release import labels, layer, layout, rootfs
from graphsync_dev.release.dockerfile import DEBIAN_PATH, Recipe
from graphsync_dev.release.version import Release

VENV = "opt/graphsync"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
# Inside the build root only while the build runs (a bind mount), never in a layer.
BUILD_CA = "/run/graphsync-build-ca.crt"


@dataclass(frozen=True)
class Built:
    digest: str  # the manifest's: what a registry names the image by
    base_digest: str  # the base layer's
    size: int  # compressed layers, what a node pulls
    unpacked: int  # bytes of the root filesystem
    contents: str  # every Debian package and Python distribution in it, name=version a line


def contents(root: Path) -> str:
    """What the image holds, for an audit without pulling it: Debian's package database and the venv's
    distributions (their dist-info folders), name=version, sorted."""
    status = (root / "var" / "lib" / "dpkg" / "status").read_text()
    debian = [
        f"{fields['Package']}={fields['Version']}"
        for block in status.split("\n\n")
        if (fields := dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " "))
        and "installed" in fields.get("Status", "").split()
    ]
    python = [
        "{}={}".format(*info.name.removesuffix(".dist-info").rsplit("-", 1))
        for info in (root / VENV).glob("lib/python3*/site-packages/*.dist-info")
    ]
    return "".join(f"debian {line}\n" for line in sorted(debian)) + "".join(
        f"python {line}\n" for line in sorted(python, key=str.lower)
    )


def config(recipe: Recipe, release: Release, diff_ids: list[str]) -> dict[str, Any]:
    """The image config (pure): the final stage's settings, the release's labels, the layers' diff_ids."""
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": release.created,
        "config": {
            "User": recipe.single("USER"),
            "Env": [f"{name}={value}" for name, value in recipe.env().items()],
            "Entrypoint": recipe.exec_form("ENTRYPOINT"),
            "Cmd": recipe.exec_form("CMD"),
            "Labels": labels.image(recipe, release),
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": release.created, "created_by": f"mmdebstrap {rootfs.SUITE} {' '.join(recipe.packages())}"},
            {"created": release.created, "created_by": f"RUN {' && '.join(recipe.user_runs())}"},
            {"created": release.created, "created_by": "COPY --from=build /opt/graphsync /opt/graphsync"},
        ],
    }


def chroot(root: Path, command: str, *, cwd: str, env: dict[str, str], log: Path) -> None:
    """Run a shell command inside `root`, in a private mount namespace with /proc, /dev and the CA bundle
    mounted (all of it gone when the command ends, so nothing of the host stays in the root)."""
    (root / BUILD_CA.lstrip("/")).touch()
    mounts = (
        f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && mount --bind {HOST_CA} {root}{BUILD_CA}"
    )
    inner = f"cd {cwd} && {command}"
    script = f'{mounts} && exec chroot {root} /bin/sh -c "$0"'
    with log.open("ab") as out:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, inner],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    (root / BUILD_CA.lstrip("/")).unlink()
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SubstrateError(f"RUN {command} failed ({done.returncode}); log {log}:\n{tail}")


def copy_sources(recipe: Recipe, source: Path, root: Path) -> None:
    """The build stage's COPY steps, relative to its WORKDIR, skipping caches as .dockerignore does."""
    workdir = root / next(rest for word, rest in recipe.build if word == "WORKDIR").lstrip("/")
    for sources, target in recipe.copies():
        for name in sources:
            into = workdir / target / Path(name).name if target.endswith("/") else workdir / target
            into.parent.mkdir(parents=True, exist_ok=True)
            if (source / name).is_dir():
                shutil.copytree(source / name, into, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy(source / name, into)


def build_env(recipe: Recipe) -> dict[str, str]:
    env = {"PATH": DEBIAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    env |= recipe.build_env()
    # The builder's trust settings (its CA bundle, mounted read-only), as `docker build` on this host would use.
    env |= {"SSL_CERT_FILE": BUILD_CA, "PIP_CERT": BUILD_CA, "UV_NATIVE_TLS": "1"}
    return env


def assemble(source: Path, work: Path) -> tuple[Recipe, Path, Path]:
    """The image's final root under `work`, built from the checkout at `source`, and the cached base root."""
    recipe = Recipe.read(source / "Dockerfile")
    base = rootfs.ensure(recipe.base(), recipe.packages())
    log = work / "build.log"
    build_root, final_root = work / "build", work / "final"
    for root in (build_root, final_root):
        subprocess.run(["cp", "-a", str(base), str(root)], check=True)
    copy_sources(recipe, source, build_root)
    env = build_env(recipe)
    for cwd, command in recipe.build_runs():
        chroot(build_root, command, cwd=cwd, env=env, log=log)
    for command in recipe.user_runs():
        chroot(final_root, command, cwd="/", env=env, log=log)
    shutil.move(build_root / VENV, final_root / VENV)
    shutil.rmtree(build_root)
    return recipe, base, final_root


def changed(base: Path, root: Path) -> Callable[[str], bool]:
    """Which paths of `root` differ from `base` (new, or another size, time, mode or owner): what the final
    stage's own RUN steps did, the layer a builder would commit for them. Refuses a step that removed a file
    (that would need whiteouts, which nothing here writes)."""
    gone = [
        path
        for path in layer.entries(base, lambda _: True)
        if not path.startswith(VENV) and not os.path.lexists(root / path)
    ]
    if gone:
        raise SubstrateError(f"the final stage removed {gone[:5]}: the image builder cannot express removals")

    def keep(path: str) -> bool:
        if path.startswith(VENV):
            return False
        try:
            before = os.lstat(base / path)
        except FileNotFoundError:
            return True
        after = os.lstat(root / path)
        same = ("st_mtime_ns", "st_size", "st_mode", "st_uid", "st_gid")
        return any(getattr(before, field) != getattr(after, field) for field in same)

    return keep


def write(source: Path, out: Path, release: Release) -> Built:
    """Build the image and write its OCI layout to `out` (a folder); returns its digests and sizes."""
    with tempfile.TemporaryDirectory(prefix="graphsync-image-") as tmp:
        recipe, base, root = assemble(source, Path(tmp))
        target = layout.Layout(out)
        # Three layers, as an engine would commit them: the base as cached (the same digest for every build
        # from one cache entry), what the final stage's RUN steps changed, the venv.
        names = ("base.tar.gz", "user.tar.gz", "venv.tar.gz")
        written = [
            layer.write(base, Path(tmp) / names[0]),
            layer.write(root, Path(tmp) / names[1], changed(base, root)),
            layer.write(root, Path(tmp) / names[2], lambda path: path == "opt" or path.startswith(VENV)),
        ]
        unpacked = sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        layers = [
            target.add_file(Path(tmp) / name, layout.LAYER, w.digest) for name, w in zip(names, written, strict=True)
        ]
        image_config = target.add_json(config(recipe, release, [w.diff_id for w in written]), layout.CONFIG)
        annotations = labels.manifest_annotations(recipe, release, base_digest=written[0].digest)
        manifest = target.add_manifest(image_config, layers, annotations)
        target.write_index(manifest, release.version)
        held = contents(root)
    return Built(manifest.digest, written[0].digest, sum(w.size for w in written), unpacked, held)

"""The release image's start time, with its precompiled bytecode and without, side by side in one run.

The image (the OCI archive `make release` writes) is unpacked layer by layer into a folder; a copy has
the venv's __pycache__ folders removed (the image as it was before the build compiled its bytecode).
Each start runs the image's interpreter under chroot on a read-only bind mount of one of the two roots,
as the image's user (65532) with the image's environment, as a pod with readOnlyRootFilesystem runs it:
Python can write no bytecode there, so without it every start compiles every module again. A start
imports one entry point: the operator (`graphsync_operator.controller.command`: kopf and the handlers) or the
worker (`graphsync_operator.worker.command`: the engine). The variants alternate; the first start of each is a
warm-up (the page cache), then the median of `--runs`, in wall-clock seconds and in CPU seconds (user
and system, of the start's processes): on a shared machine the second moves far less with the load.

    .venv/bin/python -m bench.image_start --image build/release/graphsync-0.1.0-image.oci.tar --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ENTRY_POINTS = {"operator": "graphsync_operator.controller.command", "worker": "graphsync_operator.worker.command"}


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def unpack(archive: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    """The image's root filesystem under work/root and its config."""
    layout = work / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="fully_trusted")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(blob(layout, manifest["config"]["digest"]).read_text())
    root = work / "root"
    root.mkdir()
    for entry in manifest["layers"]:
        with tarfile.open(blob(layout, entry["digest"])) as tar:
            tar.extractall(root, numeric_owner=True, filter="fully_trusted")
    shutil.rmtree(layout)
    return root, config


def size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def cpu_of_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def start(root: Path, config: dict[str, Any], module: str) -> tuple[float, float]:
    """Wall and CPU seconds for the image's python to import `module`, chrooted into `root` mounted read-only."""
    env = dict(item.split("=", 1) for item in config["config"]["Env"])
    user = config["config"]["User"]
    script = (
        f"mount --bind {root} {root} && mount -o remount,bind,ro {root} && mount -t proc proc {root}/proc"
        f' && exec chroot --userspec={user} {root} /opt/graphsync/bin/python -c "import {module}"'
    )
    began, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"import {module} failed in the image: {done.stderr[-2000:]}")
    return seconds, cpu_of_children() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True, help="the image's OCI archive (make release)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="graphsync-image-start-") as tmp:
        with_bytecode, config = unpack(args.image, Path(tmp))
        without = Path(tmp) / "without"
        subprocess.run(["cp", "-a", str(with_bytecode), str(without)], check=True)
        for cache in list((without / "opt" / "graphsync").rglob("__pycache__")):
            shutil.rmtree(cache)
        roots = {"with bytecode": with_bytecode, "without": without}
        print(f"unpacked: {size(with_bytecode) / 2**20:.0f} MiB with bytecode, {size(without) / 2**20:.0f} without")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name, module in ENTRY_POINTS.items():
            times: dict[str, list[tuple[float, float]]] = {variant: [] for variant in roots}
            for root in roots.values():
                start(root, config, module)  # warm-up: the page cache
            for _ in range(args.runs):
                for variant, root in roots.items():
                    times[variant].append(start(root, config, module))
            cells = [
                f"{variant}: median {statistics.median(w for w, _ in t):.2f} s (min {min(w for w, _ in t):.2f},"
                f" max {max(w for w, _ in t):.2f}), CPU median {statistics.median(c for _, c in t):.2f} s"
                for variant, t in times.items()
            ]
            print(f"{name:<9} import {module}, {args.runs} runs: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()

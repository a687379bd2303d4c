"""A throwaway registry for the release's last check before a real push: crane (go-containerregistry,
built from the Go module proxy like the substrate's tools) serves an in-memory registry on a loopback
port, takes the image and the chart as they will be pushed, and reads them back; helm pulls the chart
from it. What a registry accepts and serves back is what the real one will."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from graphsync_dev import gotools, process

CRANE = gotools.GoModule(
    name="crane",
    upstream="github.com/google/go-containerregistry",
    binaries={"crane": "github.com/google/go-containerregistry/cmd/crane"},
    ldflags=lambda _folder: [],
)


def crane() -> Path:
    """crane, built once into the cache (hack/crane pins its release)."""
    return gotools.module_dir(CRANE) / "bin" / "crane"


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    crane: Path

    def run(self, *args: str) -> str:
        """A crane command against this registry (plain HTTP: it is on loopback); its output."""
        done = subprocess.run(
            [str(self.crane), *args, "--insecure"], capture_output=True, text=True, check=False, timeout=300
        )
        if done.returncode != 0:
            raise process.SubstrateError(f"crane {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def push(self, layout: Path, repository: str, tag: str) -> str:
        """Push an OCI layout's image as repository:tag; the digest the registry names it by."""
        reference = f"{self.host}/{repository}:{tag}"
        self.run("push", str(layout), reference)
        return self.run("digest", reference)


@contextmanager
def serving(log: Path) -> Iterator[Registry]:
    """An empty in-memory registry on a free loopback port, stopped on exit."""
    binary = crane()
    port = process.free_port()
    spec = process.ProcessSpec(
        name="registry", argv=[str(binary), "registry", "serve", "--address", f"127.0.0.1:{port}"], log_path=log
    )
    child = process.start(spec)
    try:
        process.wait_ready(spec, child, lambda: process.port_open(port), timeout=30)
        yield Registry(f"127.0.0.1:{port}", binary)
    finally:
        process.stop(child.pid)

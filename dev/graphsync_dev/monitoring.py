"""The prometheus-operator's CRDs (ServiceMonitor, PodMonitor), from the Go module proxy.

The chart's optional monitors are checked by the API server against the schemas of the
prometheus-operator's own CRDs, which the local control plane does not have. `go mod download`
fetches the release pinned in `hack/monitoring/go.mod` into Go's module cache (outside the
repository, verified against `hack/monitoring/go.sum`); only its CRD files are used, nothing is built.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from graphsync_dev import gotools
from graphsync_dev.paths import source_root
from graphsync_dev.process import SubstrateError

MODULE = "github.com/prometheus-operator/prometheus-operator"
KINDS = ("servicemonitors", "podmonitors", "prometheusrules")


def crd_files() -> list[Path]:
    """The ServiceMonitor, PodMonitor and PrometheusRule CRDs of the pinned release, downloaded on first use."""
    folder = source_root() / "hack" / "monitoring"
    version = gotools.required_version(folder / "go.mod", MODULE)
    try:
        done = subprocess.run(
            ["go", "mod", "download", "-json", MODULE],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SubstrateError(f"go mod download {MODULE}@{version}: {exc}") from exc
    if done.returncode != 0:
        raise SubstrateError(f"go mod download {MODULE}@{version} failed: {(done.stdout + done.stderr).strip()}")
    found = json.loads(done.stdout)
    if found.get("Version") != version or not found.get("Dir"):
        raise SubstrateError(f"go mod download {MODULE}@{version} gave {found}")
    crds = Path(found["Dir"]) / "example" / "prometheus-operator-crd"
    files = [crds / f"monitoring.coreos.com_{kind}.yaml" for kind in KINDS]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise SubstrateError(f"{MODULE}@{version} has no {', '.join(missing)}")
    return files

"""The Helm chart under test: where it and the install files are, and helm run in a test's own folders."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "graphsync"
MANIFESTS = ROOT / "manifests"
SAMPLES = MANIFESTS / "samples"
OPERATOR_PODS = "app.kubernetes.io/name=graphsync-operator,app.kubernetes.io/instance=graphsync"
# Releases that leave the CRDs to the graphsync_crds fixture (applied from crds/ with kubectl): CRDs are cluster-wide,
# and a release cannot take over objects another manager made without being told (test_helm_crds.py does).
NO_CRDS = ("--set", "crds.enabled=false")
# What an operator lacking a permission logs: the API server's refusal, or kopf's own warning.
REFUSALS = ("Traceback", "Forbidden", "Not enough permissions")


@dataclass(frozen=True)
class Helm:
    binary: str
    env: dict[str, str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args], capture_output=True, text=True, env=self.env, check=False, timeout=180
        )

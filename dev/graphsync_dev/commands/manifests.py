"""`graphsync-dev manifests`: the kubectl install (a kustomize base and one file) rendered from the Helm chart.

The chart is the one source of the operator's Deployment, ServiceAccount and RBAC; these files
are what `helm template` makes of it with default values (but the CRDs), in the namespace graphsync-system,
without Helm's own labels, plus the Namespace and the CRDs as plain files. `files` is pure (rendered text in,
file contents out); `main` runs helm and writes or checks a directory. A test fails when the
files in `manifests/` differ from what the chart renders.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from graphsync_dev import gotools
from graphsync_dev.paths import source_root
from graphsync_operator.api.crds import all_crds, plain_yaml
from graphsync_operator.api.crds import render as render_crd

NAMESPACE = "graphsync-system"
RELEASE = "graphsync"
HEADER = "# Generated from charts/graphsync by `graphsync-dev manifests --write manifests/`; do not edit.\n"
# Labels that say Helm manages an object: untrue for objects applied with kubectl.
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def documents(rendered: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (`helm template` output), empty documents skipped."""
    found = []
    for number, doc in enumerate(yaml.safe_load_all(rendered)):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise ValueError(f"document {number} of the rendered chart is not a Kubernetes object: {doc!r:.200}")
        found.append(doc)
    return found


def without_helm(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The object without Helm's labels, on itself and on its pod template."""
    out = copy.deepcopy(dict(manifest))
    template_meta = ((out.get("spec") or {}).get("template") or {}).get("metadata") or {}
    for meta in (out["metadata"], template_meta):
        labels = meta.get("labels") or {}
        for label in HELM_LABELS:
            labels.pop(label, None)
    return out


def namespace(name: str) -> dict[str, Any]:
    """The operator's namespace; its pods (and any workers placed there) meet the restricted Pod Security level."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "graphsync", "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def kustomization(name: str, resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": name,
        "resources": resources,
    }


def dump(manifests: list[dict[str, Any]]) -> str:
    return "---\n".join(plain_yaml(m) for m in manifests)


def files(rendered: str, crds: Mapping[str, Mapping[str, Any]], name: str = NAMESPACE) -> dict[str, str]:
    """Relative path -> contents: `base/` (kustomize) and `install.yaml` (everything in one file)."""
    operator = [without_helm(m) for m in documents(rendered)]
    crd_files = {f"crds/{file}": render_crd(crd) for file, crd in sorted(crds.items())}
    base = {
        "namespace.yaml": HEADER + dump([namespace(name)]),
        **crd_files,
        "operator.yaml": HEADER + dump(operator),
    }
    out = {f"base/{path}": text for path, text in base.items()}
    out["base/kustomization.yaml"] = HEADER + dump([kustomization(name, list(base))])
    everything = [namespace(name), *(dict(crd) for _, crd in sorted(crds.items())), *operator]
    out["install.yaml"] = HEADER + dump(everything)
    return out


def helm_template(helm: Path, chart: Path, name: str = NAMESPACE) -> str:
    """`helm template` with the chart's default values; SystemExit with helm's message when it fails."""
    done = subprocess.run(
        # The CRDs come from the models as plain files (`files`), not with the chart's Helm labels.
        [str(helm), "template", RELEASE, str(chart), "--namespace", name, "--set", "crds.enabled=false"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"helm template {chart} failed: {done.stderr.strip()}")
    return done.stdout


def expected(helm: Path, chart: Path) -> dict[str, str]:
    return files(helm_template(helm, chart), all_crds())


def stale(directory: Path, wanted: Mapping[str, str]) -> list[str]:
    """Files in `directory` that are missing or differ, and generated files there that should not be."""
    differing = [
        p for p, text in wanted.items() if not (directory / p).is_file() or (directory / p).read_text() != text
    ]
    generated = [directory / "install.yaml", *(directory / "base").rglob("*.yaml")]
    extra = [
        str(p.relative_to(directory)) for p in generated if p.is_file() and str(p.relative_to(directory)) not in wanted
    ]
    return sorted(differing + extra)


def _helm(given: Path | None) -> Path:
    if given is not None:
        return given
    if os.environ.get("GRAPHSYNC_HELM"):
        return Path(os.environ["GRAPHSYNC_HELM"])
    return gotools.ensure("helm")  # a development command: helm as the substrate builds it


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("manifests", help="the kubectl install files, rendered from the Helm chart")
    choice = command.add_mutually_exclusive_group(required=True)
    choice.add_argument("--write", type=Path, metavar="DIR", help="write base/ and install.yaml into DIR")
    choice.add_argument("--check", type=Path, metavar="DIR", help="exit 1 when DIR's files differ from the chart")
    command.add_argument("--chart", type=Path, help="the chart (default: charts/graphsync of this checkout)")
    command.add_argument("--helm", type=Path, help="the helm binary (default: $GRAPHSYNC_HELM, else the substrate's)")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    chart = args.chart or source_root() / "charts" / "graphsync"
    wanted = expected(_helm(args.helm), chart)
    if args.check:
        outdated = stale(args.check, wanted)
        for path in outdated:
            print(f"{args.check / path}: differs from the chart; run graphsync-dev manifests --write {args.check}")
        return 1 if outdated else 0
    for path in stale(args.write, wanted):
        target = args.write / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path])
        else:
            target.unlink()
    return 0

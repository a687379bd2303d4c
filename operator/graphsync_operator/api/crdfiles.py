"""`graphsync-operator crds`: print the CRDs, write them into a directory, or check a directory is current.

Two forms of the same CRDs: plain files (`crds/`, for `kubectl apply` and kustomize) and the Helm chart's
templates (`charts/graphsync/templates/crds/`), which render them only when `crds.enabled` and mark them
`helm.sh/resource-policy: keep` when `crds.keep`, so `helm upgrade` upgrades them and `helm uninstall` leaves
them (and every resource of their kinds) in place, as cert-manager's chart does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphsync_operator.api.crds import all_crds, plain_yaml, render

CHART_COMMAND = "graphsync-operator crds --chart-write charts/graphsync/templates/crds"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("crds", help="the CustomResourceDefinitions, generated from the API models")
    choice = command.add_mutually_exclusive_group()
    choice.add_argument("--write", type=Path, metavar="DIR", help="write one file per CRD into DIR")
    choice.add_argument("--check", type=Path, metavar="DIR", help="exit 1 when DIR's files differ from the models")
    choice.add_argument(
        "--chart-write", type=Path, metavar="DIR", help="write one Helm template per CRD into DIR (the chart's)"
    )
    choice.add_argument(
        "--chart-check", type=Path, metavar="DIR", help="exit 1 when DIR's Helm templates differ from the models"
    )
    command.set_defaults(handler=main)


def chart_template(manifest: Mapping[str, Any]) -> str:
    """One CRD as a template of the chart: rendered when `crds.enabled`, annotated `helm.sh/resource-policy: keep`
    when `crds.keep`, labelled as the release's objects are. Its schema is text to Helm, never a template:
    a `{{` in a description is written so that Helm prints it as it is."""
    meta = manifest["metadata"]
    body = {key: value for key, value in manifest.items() if key not in {"apiVersion", "kind", "metadata"}}
    labels = "".join(f"    {line}\n" for line in plain_yaml(meta.get("labels") or {}).splitlines())
    schema = plain_yaml(body).replace("{{", '{{ "{{" }}')
    return (
        f"{{{{- /* Generated from the API models by `{CHART_COMMAND}`; do not edit. */}}}}\n"
        "{{- if .Values.crds.enabled }}\n"
        f"apiVersion: {manifest['apiVersion']}\n"
        f"kind: {manifest['kind']}\n"
        "metadata:\n"
        f"  name: {meta['name']}\n"
        "  labels:\n"
        f"{labels}"
        '    {{- include "graphsync.crdLabels" . | nindent 4 }}\n'
        "  {{- if .Values.crds.keep }}\n"
        "  annotations:\n"
        "    # helm uninstall leaves the CRD, and so every resource of its kind.\n"
        "    helm.sh/resource-policy: keep\n"
        "  {{- end }}\n"
        f"{schema}"
        "{{- end }}\n"
    )


def _stale(directory: Path, form: Callable[[Mapping[str, Any]], str]) -> list[str]:
    return [
        name
        for name, manifest in all_crds().items()
        if not (directory / name).is_file() or (directory / name).read_text() != form(manifest)
    ]


def stale(directory: Path) -> list[str]:
    """The CRD files in `directory` that are missing or differ from what the models generate."""
    return _stale(directory, render)


def chart_stale(directory: Path) -> list[str]:
    """The chart's CRD templates in `directory` that are missing or differ from what the models generate."""
    return _stale(directory, chart_template)


def _write(directory: Path, form: Callable[[Mapping[str, Any]], str]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for name, manifest in all_crds().items():
        (directory / name).write_text(form(manifest))
    return 0


def _check(directory: Path, form: Callable[[Mapping[str, Any]], str], flag: str) -> int:
    outdated = _stale(directory, form)
    for name in outdated:
        print(f"{directory / name}: differs from the API models; run graphsync-operator crds {flag} {directory}")
    return 1 if outdated else 0


def main(args: argparse.Namespace) -> int:
    if args.write:
        return _write(args.write, render)
    if args.chart_write:
        return _write(args.chart_write, chart_template)
    if args.check:
        return _check(args.check, render, "--write")
    if args.chart_check:
        return _check(args.chart_check, chart_template, "--chart-write")
    sys.stdout.write("---\n".join(render(manifest) for manifest in all_crds().values()))
    return 0

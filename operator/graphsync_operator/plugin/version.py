"""`kubectl graphsync version`: this plugin's release and that of every graphsync operator the cluster runs,
so a user sees at once whether the two match."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphsync import __version__

# How the chart and install.yaml label the operator's Deployment.
OPERATOR_SELECTOR = "app.kubernetes.io/name=graphsync-operator"


def operators(deployments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each operator Deployment: where it is, its release (the version label, else the image's tag) and how many
    replicas are ready (pure)."""
    found = []
    for deployment in deployments:
        meta = deployment["metadata"]
        [container, *_] = deployment["spec"]["template"]["spec"]["containers"]
        image = str(container.get("image", ""))
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else None
        found.append(
            {
                "namespace": meta["namespace"],
                "name": meta["name"],
                "version": (meta.get("labels") or {}).get("app.kubernetes.io/version") or tag,
                "image": image,
                "ready": int((deployment.get("status") or {}).get("readyReplicas") or 0),
            }
        )
    return sorted(found, key=lambda item: (item["namespace"], item["name"]))


def report(found: list[dict[str, Any]] | None, error: str | None = None) -> dict[str, Any]:
    """What `-o json|yaml` prints: the plugin's version, and the operators (None: the cluster could not say)."""
    return {"plugin": __version__, "operators": found, **({"error": error} if error else {})}


def text(data: Mapping[str, Any]) -> str:
    lines = [f"plugin    {data['plugin']}"]
    if data["operators"] is None:
        lines.append(f"operator  unknown: {data.get('error')}")
    elif not data["operators"]:
        lines.append("operator  none found (no Deployment labelled " + OPERATOR_SELECTOR + ")")
    for item in data["operators"] or []:
        mismatch = "" if item["version"] == data["plugin"] else f" (differs from the plugin's {data['plugin']})"
        lines.append(
            f"operator  {item['version'] or 'unknown'}{mismatch}  {item['namespace']}/{item['name']}"
            f"  {item['ready']} ready  {item['image']}"
        )
    return "\n".join(lines)

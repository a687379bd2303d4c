"""Items a user declares in a SyncPipeline's spec through the plugin (`backfill`, `reset`): appended to a
spec list, each once per name, and followed in the status list of the same name.

The operator never writes a spec, so the request is the user's own edit, as `kubectl edit` makes it: checked
by the engine's own models first, then patched with the resource version it was read at, so an edit made
meanwhile is never overwritten (the patch is refused, and said so). The workers roll with the new config;
the one that carries the item out reports it in the status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.kube import Kube, KubeError
from graphsync_operator.plugin import steer
from graphsync_operator.plugin.steer import PluginError


@dataclass(frozen=True)
class Declared:
    """A kind of item: its spec and status field, its name in words, the option naming one, its final phases."""

    field: str
    what: str
    option: str
    done: tuple[str, ...]


def appended(pipeline: Mapping[str, Any], declared: Declared, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec list with `item` added; raises PluginError when its name is taken (pure)."""
    present = list((pipeline.get("spec") or {}).get(declared.field) or [])
    if any(existing.get("name") == item["name"] for existing in present):
        raise PluginError(
            f"{declared.option}: a {declared.what} {item['name']!r} is already in spec.{declared.field}; "
            "a name is carried out once"
        )
    return [*present, item]


def patch(pipeline: Mapping[str, Any], declared: Declared, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A merge patch of the spec list that only applies to the version read (pure)."""
    version = pipeline["metadata"]["resourceVersion"]
    return {"metadata": {"resourceVersion": version}, "spec": {declared.field: items}}


def reported(resource: Mapping[str, Any], declared: Declared, name: str) -> Mapping[str, Any] | None:
    """The item `name` in the status, once a worker reports it (pure)."""
    found = ((resource.get("status") or {}).get(declared.field)) or []
    return next((item for item in found if item.get("name") == name), None)


def finished(resource: Mapping[str, Any], declared: Declared, name: str) -> bool:
    item = reported(resource, declared, name)
    return item is not None and item.get("phase") in declared.done


def add(
    kube: Kube,
    namespace: str,
    name: str,
    declared: Declared,
    item: dict[str, Any],
    *,
    check: Callable[[Mapping[str, Any], list[dict[str, Any]]], None],
    wait: float | None,
) -> Mapping[str, Any] | None:
    """Append `item` to the SyncPipeline's spec list after `check` (raises PluginError) passed on the spec and
    the new list; with `wait`, return the item as the status reports it once finished."""
    target = steer.Ref("SyncPipeline", name)
    found = steer.read(kube, namespace, target)
    items = appended(found, declared, item)
    check(found.get("spec") or {}, items)
    try:
        kube.merge_patch(API_VERSION, target.kind, namespace, target.name, patch(found, declared, items))
    except KubeError as exc:
        if exc.status == 409:
            raise PluginError(f"{target.describe()} was changed meanwhile; nothing was added, run it again") from None
        raise
    print(f"{target.describe()}: {declared.what} {item['name']} added to spec.{declared.field}")
    if wait is None:
        return None
    done = steer.wait_for(
        lambda: kube.get(API_VERSION, target.kind, namespace, target.name),
        lambda resource: finished(resource, declared, item["name"]),
        f"a worker to carry out {declared.what} {item['name']}",
        wait,
    )
    return reported(done, declared, item["name"])

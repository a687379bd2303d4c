"""Pipelines held in a namespace being deleted (pure): which to let go, and the patch that does it.

A pipeline with deletionPolicy cleanup carries a finalizer until its cleanup Job has run. In a namespace
being deleted no Job can be created, so waiting would hold the namespace for ever. Nor can kopf be relied
on to call the delete handler there: watching a list of namespaces, it stops watching one as soon as it is
marked for deletion. So the operator looks for such namespaces itself (see handlers/ending.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from graphsync_operator.build.names import FINALIZER


@dataclass(frozen=True)
class Held:
    """A pipeline marked for deletion that only the operator's finalizer keeps."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    finalizers: tuple[str, ...]


def watched(namespace: str, patterns: Sequence[str] | None) -> bool:
    """Whether the operator answers for `namespace`: every one when `patterns` is None (-A), else those a
    pattern names (globs as kopf takes them; a leading `!` excludes)."""
    if patterns is None:
        return True
    excluded = any(fnmatchcase(namespace, p[1:]) for p in patterns if p.startswith("!"))
    return not excluded and any(fnmatchcase(namespace, p) for p in patterns if not p.startswith("!"))


def ending(namespaces: Iterable[Mapping[str, Any]], patterns: Sequence[str] | None) -> list[str]:
    """The names of the watched namespaces marked for deletion."""
    found = []
    for namespace in namespaces:
        meta = namespace.get("metadata") or {}
        if meta.get("deletionTimestamp") and watched(str(meta.get("name", "")), patterns):
            found.append(str(meta["name"]))
    return sorted(found)


def held(pipelines: Iterable[Mapping[str, Any]]) -> list[Held]:
    """The pipelines marked for deletion that wait on the operator's finalizer."""
    found = []
    for pipeline in pipelines:
        meta = pipeline.get("metadata") or {}
        finalizers = tuple(meta.get("finalizers") or ())
        if meta.get("deletionTimestamp") and FINALIZER in finalizers:
            found.append(
                Held(
                    namespace=str(meta["namespace"]),
                    name=str(meta["name"]),
                    uid=str(meta["uid"]),
                    resource_version=str(meta["resourceVersion"]),
                    finalizers=finalizers,
                )
            )
    return found


def release(pipeline: Held) -> dict[str, Any]:
    """The merge patch that takes the operator's finalizer off and leaves any other: made from the object as
    it was at its resourceVersion, so a finalizer added since is never dropped (the write is refused)."""
    return {
        "metadata": {
            "resourceVersion": pipeline.resource_version,
            "finalizers": [f for f in pipeline.finalizers if f != FINALIZER],
        }
    }

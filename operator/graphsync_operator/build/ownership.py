"""Whose an object is: the operator writes and deletes only objects that carry its resource's owner reference.

A new SyncPipeline `x` must not take over (nor later delete) an `x-worker` Deployment, an `x-pipeline`
ConfigMap or a Role that someone else made under the same name: server-side apply with force would make
them the operator's, and the pipeline's deletion would then remove them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def owner_uid(manifest: Mapping[str, Any]) -> str:
    """The uid of the resource a built child belongs to (the builders set exactly one controller reference)."""
    [reference] = [ref for ref in manifest["metadata"]["ownerReferences"] if ref.get("controller")]
    return str(reference["uid"])


def owned_by(existing: Mapping[str, Any] | None, uid: str) -> bool:
    """Whether the operator may write or delete this object for the resource `uid`: there is none yet, or it
    carries that resource's controller reference."""
    if existing is None:
        return True
    references = existing.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in references)


def conflict(kind: str, name: str, existing: Mapping[str, Any]) -> str:
    """What a user reads when a child's name is taken by an object the resource does not own."""
    references = existing.get("metadata", {}).get("ownerReferences") or []
    holder = next((f"{ref.get('kind')} {ref.get('name')}" for ref in references if ref.get("controller")), None)
    whose = f"it belongs to {holder}" if holder else "it has no owner"
    return (
        f"{kind} {name!r} already exists and is not this resource's ({whose}); graphsync neither takes it over "
        "nor deletes it: rename or remove it, or give the resource another name"
    )

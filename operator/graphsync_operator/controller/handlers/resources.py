"""One of the operator's resources as the handlers read it: kopf's body, or the plain data of the API or an index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphsync_operator.api.status import Condition
from graphsync_operator.build.names import Owner


@dataclass(frozen=True)
class Resource:
    """A SyncPipeline, ReconciliationJob or ConflictPolicy, read once: its identity, spec, status and annotations."""

    # As given: what Events name, and kopf's own bookkeeping reads.
    body: Mapping[str, Any]
    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Resource:
        meta = body["metadata"]
        return cls(
            body=body,
            kind=body["kind"],
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 0)),
            annotations=dict(meta.get("annotations") or {}),
            spec=dict(body.get("spec") or {}),
            status=dict(body.get("status") or {}),
        )

    @property
    def owner(self) -> Owner:
        """What its children name as their owner."""
        return Owner(kind=self.kind, name=self.name, namespace=self.namespace, uid=self.uid)

    @property
    def resource_version(self) -> str:
        return str(self.body["metadata"]["resourceVersion"])

    @property
    def deleting(self) -> bool:
        return bool(self.body["metadata"].get("deletionTimestamp"))

    def handled_requests(self) -> dict[str, str]:
        """The run-now requests already acted on, by annotation."""
        return dict(self.status.get("handledRequests") or {})

    def conditions(self) -> list[Condition]:
        """The conditions its status holds now."""
        return [Condition.model_validate(c) for c in self.status.get("conditions", [])]

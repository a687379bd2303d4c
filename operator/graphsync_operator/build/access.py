"""Each resource's workers get their own service account, allowed one thing: to report on their own Lease."""

from __future__ import annotations

from typing import Any

from graphsync_operator.build import names
from graphsync_operator.build.names import Owner


def service_account(owner: Owner, pipeline: str, component: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": owner.metadata(names.account(owner.name, component), names.labels(pipeline, component, owner.name)),
    }


def role(owner: Owner, pipeline: str, component: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": owner.metadata(names.account(owner.name, component), names.labels(pipeline, component, owner.name)),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": [names.lease(owner.name, component)],
                "verbs": ["get", "patch"],
            }
        ],
    }


def role_binding(owner: Owner, pipeline: str, component: str) -> dict[str, Any]:
    name = names.account(owner.name, component)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": owner.metadata(name, names.labels(pipeline, component, owner.name)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
    }


def lease(owner: Owner, pipeline: str, component: str) -> dict[str, Any]:
    """Created by the operator (workers may not create objects); the workers' reports are its annotations."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": owner.metadata(names.lease(owner.name, component), names.labels(pipeline, component, owner.name)),
        "spec": {},
    }


def for_workers(owner: Owner, pipeline: str, component: str) -> list[dict[str, Any]]:
    return [
        service_account(owner, pipeline, component),
        role(owner, pipeline, component),
        role_binding(owner, pipeline, component),
        lease(owner, pipeline, component),
    ]

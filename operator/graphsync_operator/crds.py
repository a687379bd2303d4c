"""The CustomResourceDefinitions, built from the API models (pure): one source of truth for the schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from graphsync_operator.schema import structural

GROUP = "graphsync.io"
VERSION = "v1alpha1"


def crd(kind: str, plural: str, short_names: list[str], spec: type[BaseModel]) -> dict[str, Any]:
    """A namespaced CRD whose `spec` is the model's structural schema and whose status is kept as written."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["graphsync"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "spec": structural(spec.model_json_schema(by_alias=True)),
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }

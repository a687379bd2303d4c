"""A pipeline's `workers` with every pod option set, as a cluster would need them (unit and end-to-end tests).

The values fit the local control plane's one node (labels `type: kwok`, `kubernetes.io/os: linux`),
so a pod made from them stays schedulable there.
"""

from __future__ import annotations

from typing import Any


def every_option(priority_class: str = "data-plane") -> dict[str, Any]:
    return {
        "replicas": 1,
        "imagePullSecrets": ["registry-cred"],
        "priorityClassName": priority_class,
        "nodeSelector": {"type": "kwok"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "graphsync", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            },
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}
                    ]
                }
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"team": "data"}},
                        },
                    }
                ]
            },
        },
        "podLabels": {"team": "data", "example.com/cost-center": "cc-42"},
        "podAnnotations": {"example.com/owner": "data-team", "sidecar.istio.io/inject": "false"},
        "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"}, {"name": "TZ", "value": "UTC"}],
        "volumes": [
            {"name": "ca-bundle", "configMap": {"name": "company-ca", "optional": True}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}},
            {
                "name": "pod-info",
                "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
            },
        ],
        "volumeMounts": [
            {"name": "ca-bundle", "mountPath": "/etc/ssl/company", "readOnly": True},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "pod-info", "mountPath": "/etc/pod-info", "readOnly": True},
        ],
    }

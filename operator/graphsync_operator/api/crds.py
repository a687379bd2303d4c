"""The CustomResourceDefinitions, built from the API models (pure): one source of truth for the schema.

`graphsync-operator crds --write crds/` regenerates the files in `crds/`; a unit test
fails when they differ from what the models say. Rules the models check in Python
and the API server can check too are repeated here as CEL, so `kubectl apply` refuses
them before anything is stored; the operator still checks every spec itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from graphsync.spec.endpoints import CREDENTIALS_IN_QUERY, CREDENTIALS_IN_USERINFO, CREDENTIALS_MESSAGE
from graphsync_operator.api.pods import OWN_VOLUMES, VOLUME_SOURCES
from graphsync_operator.api.specs import (
    API_VERSION,
    GROUP,
    MAX_NAME,
    VERSION,
    ReconciliationJobSpec,
    SyncPipelineSpec,
)
from graphsync_operator.api.specs import ConflictPolicyResourceSpec as ConflictPolicySpec
from graphsync_operator.api.status import ConflictPolicyStatus, ReconciliationJobStatus, SyncPipelineStatus
from graphsync_operator.api.structural import structural

Rule = dict[str, str]


def _rule(rule: str, message: str, field_path: str | None = None) -> Rule:
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def _one_of(kinds: Sequence[str]) -> str:
    return " + ".join(f"(has(self.{kind}) ? 1 : 0)" for kind in kinds) + " == 1"


def _same_kind(kinds: Sequence[str]) -> str:
    return " && ".join(f"has(self.{kind}) == has(oldSelf.{kind})" for kind in kinds)


SOURCES = ("postgres", "neo4j", "falkordb", "files")
TARGETS = ("neo4j", "falkordb")

# A URL with a password in it (CEL raw strings: the patterns are RE2 as written).
CREDENTIALS_RULE = _rule(
    f"!self.matches(r'{CREDENTIALS_IN_USERINFO}') && !self.matches(r'{CREDENTIALS_IN_QUERY}')", CREDENTIALS_MESSAGE
)
URLS = (
    "source.postgres.url",
    "source.neo4j.uri",
    "source.falkordb.url",
    "source.files.git.url",
    "transport.redisStreams.url",
    "target.neo4j.uri",
    "target.falkordb.url",
)

# Path inside the spec schema (dotted property names; "" is the spec itself) -> CEL rules.
PIPELINE_RULES: dict[str, list[Rule]] = {
    **{path: [dict(CREDENTIALS_RULE)] for path in URLS},
    "": [
        _rule(
            "!has(self.conflictPolicy) || !has(self.conflictPolicyRef)",
            "set conflictPolicy or conflictPolicyRef, not both",
            ".conflictPolicyRef",
        ),
        *(
            _rule(
                f"!has(self.{field}) || (has(self.mode) && self.mode == 'bidirectional')",
                f"{field} applies to mode bidirectional",
                f".{field}",
            )
            for field in ("conflictPolicy", "conflictPolicyRef")
        ),
        _rule(
            "has(self.schedule) || !(self.mode in ['snapshot', 'differential'])",
            "modes snapshot and differential run once per schedule: set a cron schedule",
            ".schedule",
        ),
        _rule(
            "!has(self.schedule) || self.mode in ['snapshot', 'differential', 'incremental']",
            "a schedule applies to modes snapshot, differential and incremental; this mode runs continuously",
            ".schedule",
        ),
        _rule(
            "!has(self.workers) || !has(self.workers.replicas) || self.workers.replicas <= 1"
            " || !has(self.source.postgres) || !has(self.source.postgres.capture)"
            " || self.source.postgres.capture != 'logical'",
            "workers.replicas: capture logical reads one replication slot, which one session holds at a time;"
            " at most 1 replica",
            ".workers.replicas",
        ),
        _rule(
            "!has(self.workers) || !has(self.workers.replicas) || self.workers.replicas <= 1"
            " || self.mode in ['continuous', 'snapshotThenStream']",
            "workers.replicas: this mode runs one writer, so at most 1 replica; "
            "only modes continuous and snapshotThenStream share work between replicas",
            ".workers.replicas",
        ),
    ],
    "source": [
        _rule(_one_of(SOURCES), "choose exactly one source kind: " + ", ".join(SOURCES)),
        _rule(_same_kind(SOURCES), "the source kind is immutable: create a new SyncPipeline instead"),
    ],
    "target": [
        _rule(_one_of(TARGETS), "choose exactly one target kind: " + ", ".join(TARGETS)),
        _rule(_same_kind(TARGETS), "the target kind is immutable: create a new SyncPipeline instead"),
    ],
    "source.postgres.schema": [
        _rule("self == oldSelf", "schema is immutable: the engine's capture tables and checkpoints live there"),
    ],
    "workers": [
        _rule(
            "!has(self.volumeMounts)"
            " || self.volumeMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))",
            "volumeMounts: each names one of workers.volumes",
            ".volumeMounts",
        ),
    ],
    "workers.volumes[]": [
        _rule(_one_of(VOLUME_SOURCES), "a volume has exactly one source: " + ", ".join(VOLUME_SOURCES)),
        _rule(
            "!(self.name in [" + ", ".join(f"'{name}'" for name in OWN_VOLUMES) + "])",
            "the operator's own volumes are named " + ", ".join(OWN_VOLUMES),
            ".name",
        ),
    ],
    "transport.redisStreams.partitions": [
        _rule("self == oldSelf", "partitions is immutable: events are routed to streams by it"),
    ],
}
RECONCILIATION_RULES: dict[str, list[Rule]] = {
    "pipelineRef": [_rule("self == oldSelf", "pipelineRef is immutable: create a new ReconciliationJob instead")],
    "scope": [_rule("size(self.ids) == 0 || size(self.entities) > 0", "ids: name their entity types in entities")],
}
POLICY_RULES: dict[str, list[Rule]] = {
    "": [_rule("!has(self.merge) || self.strategy == 'merge'", "merge rules apply to strategy merge", ".merge")],
}
NAME_RULE = _rule(
    f"self.metadata.name.size() <= {MAX_NAME}",
    f"metadata.name: at most {MAX_NAME} characters, since the resource's children are named after it",
)


def _column(name: str, path: str, kind: str = "string", priority: int = 0, description: str = "") -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


def _condition(kind: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].status'


AGE = _column("Age", ".metadata.creationTimestamp", "date")
PIPELINE_COLUMNS = [
    _column("Source", ".status.source"),
    _column("Target", ".status.target"),
    _column("Mode", ".spec.mode"),
    _column("Ready", _condition("Ready")),
    _column("Synced", ".status.itemsSynced", "integer", description="items written by the workers"),
    _column("Lag", ".status.lagSeconds", "number", description="seconds the slowest worker is behind"),
    AGE,
    _column("Phase", ".status.phase", priority=1),
    _column("Workers", ".status.workers", priority=1),
    _column("Failed", ".status.itemsFailed", "integer", priority=1),
    _column("Conflicts", ".status.openConflicts", "integer", priority=1),
    _column("Last Sync", ".status.lastSyncTime", "date", priority=1),
]
RECONCILIATION_COLUMNS = [
    _column("Pipeline", ".spec.pipelineRef.name"),
    _column("Action", ".spec.action"),
    _column("Schedule", ".spec.schedule"),
    _column("Suspended", ".spec.suspend", "boolean"),
    _column("Outcome", ".status.lastRun.outcome"),
    _column("Last Run", ".status.lastRun.finishedAt", "date"),
    AGE,
    _column("Different", ".status.lastRun.different", "integer", priority=1),
    _column("Repaired", ".status.lastRun.repaired", "integer", priority=1),
]
POLICY_COLUMNS = [
    _column("Strategy", ".spec.strategy"),
    _column("Ready", _condition("Ready")),
    _column("Clock Skew", ".spec.clockSkewMs", "integer"),
    AGE,
]


def _with_rules(schema: dict[str, Any], rules: Mapping[str, list[Rule]]) -> dict[str, Any]:
    for path, found in rules.items():
        node = schema
        for part in filter(None, path.split(".")):
            # `name[]`: the items of the list `name`.
            node = node["properties"][part.removesuffix("[]")]
            if part.endswith("[]"):
                node = node["items"]
        node["x-kubernetes-validations"] = found
    return schema


def _status(model: type[BaseModel]) -> dict[str, Any]:
    schema = structural(model.model_json_schema(by_alias=True))
    conditions = schema["properties"]["conditions"]
    # One condition per type, merged by type when patched.
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return schema


def closed_schema(schema: Any) -> Any:
    """A structural schema for Helm's values: every object with properties refuses keys it does not name
    (a CRD prunes them instead), so a misspelt value fails `helm install` naming it."""
    if isinstance(schema, dict):
        closed = {key: closed_schema(value) for key, value in schema.items() if key != "description"}
        if "properties" in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [closed_schema(item) for item in schema]
    return schema


def pipeline_spec_schema() -> dict[str, Any]:
    schema = structural(SyncPipelineSpec.model_json_schema(by_alias=True))
    # The engine's pipeline name and namespace are the resource's.
    del schema["properties"]["name"]
    del schema["properties"]["namespace"]
    # Defaulted as a whole, so workers.replicas always has a value: the scale subresource reads it.
    schema["properties"]["workers"]["default"] = {}
    return _with_rules(schema, PIPELINE_RULES)


# The words every Kubernetes kind gives these two fields, so `kubectl explain` says them here too. `metadata` takes
# none: the API server refuses anything but its type there (it describes ObjectMeta itself).
API_VERSION_TEXT = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized"
    " schemas to the latest internal value, and may reject unrecognized values. More info:"
    " https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_TEXT = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from the"
    " endpoint the client submits requests to. Cannot be updated. In CamelCase. More info:"
    " https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
# What `kubectl explain KIND` says first.
KIND_DESCRIPTIONS = {
    "SyncPipeline": "Keeps a graph database (Neo4j, FalkorDB) in sync with a source (PostgreSQL, another graph, files"
    " in Git): the operator runs its workers as a Deployment, or a CronJob for the scheduled modes, and reports"
    " their progress here.",
    "ReconciliationJob": "Compares a SyncPipeline's source and target on a schedule (bucketed hashes) and reports or"
    " repairs what differs.",
    "ConflictPolicy": "Says who wins when both sides of a bidirectional SyncPipeline changed the same entity; pipelines"
    " reference it by conflictPolicyRef.",
}


def crd(  # noqa: PLR0917
    kind: str,
    plural: str,
    short_names: list[str],
    spec: dict[str, Any],
    status: dict[str, Any],
    columns: list[dict[str, Any]],
    scale: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A namespaced CRD with a status subresource (and `scale`, when given), in the `graphsync` category."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "graphsync"}},
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
                    "subresources": {"status": {}, **({"scale": scale} if scale else {})},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "description": KIND_DESCRIPTIONS[kind],
                            "type": "object",
                            "required": ["spec"],
                            "x-kubernetes-validations": [NAME_RULE],
                            "properties": {
                                "apiVersion": {"type": "string", "description": API_VERSION_TEXT},
                                "kind": {"type": "string", "description": KIND_TEXT},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name in `crds/` -> CRD."""
    return {
        "syncpipelines.yaml": crd(
            "SyncPipeline",
            "syncpipelines",
            ["sp", "gsp"],
            pipeline_spec_schema(),
            _status(SyncPipelineStatus),
            PIPELINE_COLUMNS,
            # `kubectl scale sp NAME --replicas N` and autoscalers, where the mode shares work (a CEL rule says where).
            scale={
                "specReplicasPath": ".spec.workers.replicas",
                "statusReplicasPath": ".status.readyWorkers",
                "labelSelectorPath": ".status.selector",
            },
        ),
        "reconciliationjobs.yaml": crd(
            "ReconciliationJob",
            "reconciliationjobs",
            ["rj", "gsrj"],
            _with_rules(structural(ReconciliationJobSpec.model_json_schema(by_alias=True)), RECONCILIATION_RULES),
            _status(ReconciliationJobStatus),
            RECONCILIATION_COLUMNS,
        ),
        "conflictpolicies.yaml": crd(
            "ConflictPolicy",
            "conflictpolicies",
            ["cp", "gscp"],
            _with_rules(structural(ConflictPolicySpec.model_json_schema(by_alias=True)), POLICY_RULES),
            _status(ConflictPolicyStatus),
            POLICY_COLUMNS,
        ),
    }


class _PlainDumper(yaml.SafeDumper):
    """Repeats a shared value instead of writing a YAML anchor and alias (`&id001`, `*id001`): some tools
    reading the files (kustomize patches, some GitOps diffs) do not follow aliases, and people cannot."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def plain_yaml(document: Mapping[str, Any]) -> str:
    """A generated manifest as YAML: keys in their order, lines up to 120 characters, no anchors."""
    return yaml.dump(dict(document), Dumper=_PlainDumper, sort_keys=False, width=120)


def render(manifest: Mapping[str, Any]) -> str:
    header = "# Generated from the API models by `graphsync-operator crds --write crds/`; do not edit.\n"
    return header + plain_yaml(manifest)


__all__ = ["API_VERSION", "all_crds", "crd", "render"]

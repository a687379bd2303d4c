"""A sweep of malformed resources of the three kinds against the real API server: each is refused naming the
field, or (where the schema cannot tell) stored and then refused by the operator's own gate as InvalidSpec naming
the field, before any child is built, so nothing reaches a database. Made as a user makes mistakes: a wrong
value in one place of a spec that is otherwise right."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.resources import resource, shop_spec

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

Change = Callable[[dict[str, Any]], None]
MODELS: dict[str, Any] = {
    "SyncPipeline": SyncPipelineSpec,
    "ReconciliationJob": ReconciliationJobSpec,
    "ConflictPolicy": ConflictPolicySpec,
}
BASES: dict[str, Callable[[], dict[str, Any]]] = {
    "SyncPipeline": shop_spec,
    "ReconciliationJob": lambda: {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"},
    "ConflictPolicy": lambda: {"strategy": "merge", "merge": {"fields": {"stock": "sum"}}},
}


def at(path: str, value: Any) -> Change:
    """Set `path` (dots, and [i] for list items) to `value`."""

    def change(spec: dict[str, Any]) -> None:
        *parents, last = _steps(path)
        node: Any = spec
        for step in parents:
            node = node[step]
        node[last] = value

    return change


def drop(path: str) -> Change:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = _steps(path)
        node: Any = spec
        for step in parents:
            node = node[step]
        del node[last]

    return change


def both(*changes: Change) -> Change:
    def change(spec: dict[str, Any]) -> None:
        for each in changes:
            each(spec)

    return change


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        steps.append(name)
        if index:
            steps.append(int(index.rstrip("]")))
    return steps


FALKOR = {"falkordb": {"url": "redis://falkor.example:6379", "graph": "shop"}}
FILES = {"files": {"git": {"url": "https://git.example.com/kb.git"}}}
P = "source.postgres"
N0 = "mappings.nodes[0]"
R0 = "mappings.relationships[0]"

# (kind, what is wrong, the change, what the refusal must name)
SWEEP: list[tuple[str, str, Change, str]] = [
    ("SyncPipeline", "unknown mode", at("mode", "sometimes"), "spec.mode"),
    ("SyncPipeline", "batch of none", at("batchSize", 0), "spec.batchSize"),
    ("SyncPipeline", "batch size as words", at("batchSize", "ten"), "spec.batchSize"),
    ("SyncPipeline", "not a PostgreSQL URL", at(f"{P}.url", "mysql://db.example/shop"), f"spec.{P}.url"),
    ("SyncPipeline", "password in the URL", at(f"{P}.url", "postgresql://a:pw@db/shop"), f"spec.{P}.url"),
    ("SyncPipeline", "schema with a space", at(f"{P}.schema", "my schema"), f"spec.{P}.schema"),
    ("SyncPipeline", "unknown capture", at(f"{P}.capture", "wal"), f"spec.{P}.capture"),
    ("SyncPipeline", "password naming nothing", at(f"{P}.password", {}), f"spec.{P}.password"),
    ("SyncPipeline", "inline password", at(f"{P}.password", {"value": "pw"}), f"spec.{P}.password.value"),
    (
        "SyncPipeline",
        "Secret name with an underscore",
        at(f"{P}.password.secretKeyRef.name", "db_secret"),
        f"spec.{P}.password.secretKeyRef.name",
    ),
    ("SyncPipeline", "unknown TLS mode", at(f"{P}.tls", {"mode": "sometimes"}), f"spec.{P}.tls.mode"),
    ("SyncPipeline", "verify-full without a CA", at(f"{P}.tls", {"mode": "verify-full"}), f"spec.{P}.tls"),
    ("SyncPipeline", "client cert without key", at(f"{P}.tls", {"mode": "require", "cert": {"path": "/c"}}), "tls"),
    ("SyncPipeline", "negative overlap", at(f"{P}.watermarkOverlapSeconds", -1), f"spec.{P}.watermarkOverlapSeconds"),
    (
        "SyncPipeline",
        "not a Redis URL",
        at("transport.redisStreams.url", "http://redis"),
        "spec.transport.redisStreams.url",
    ),
    ("SyncPipeline", "no partitions", at("transport.redisStreams.partitions", 0), "partitions"),
    ("SyncPipeline", "too many partitions", at("transport.redisStreams.partitions", 1000), "partitions"),
    ("SyncPipeline", "Redis TLS without rediss", at("transport.redisStreams.tls", {}), "transport.redisStreams"),
    ("SyncPipeline", "no target", at("target", {}), "spec.target"),
    ("SyncPipeline", "two targets", at("target", {"neo4j": {"uri": "bolt://g:7687"}, **FALKOR}), "spec.target"),
    ("SyncPipeline", "not a Bolt URI", at("target.neo4j.uri", "http://neo4j:7474"), "spec.target.neo4j.uri"),
    ("SyncPipeline", "database with a space", at("target.neo4j.database", "my db"), "spec.target.neo4j.database"),
    (
        "SyncPipeline",
        "TLS next to bolt+s",
        both(at("target.neo4j.uri", "bolt+s://g:7687"), at("target.neo4j.tls", {})),
        "target.neo4j",
    ),
    (
        "SyncPipeline",
        "graph name with a space",
        at("target", {"falkordb": {"url": "redis://f:6379", "graph": "a b"}}),
        "graph",
    ),
    ("SyncPipeline", "label with a dash", at(f"{N0}.labels[0]", "Bad-Label"), "labels[0]"),
    ("SyncPipeline", "no labels", at(f"{N0}.labels", []), "labels"),
    ("SyncPipeline", "table with a space", at(f"{N0}.table", "shop.my table"), "table"),
    ("SyncPipeline", "mapping name with a space", at(f"{N0}.name", "a b"), "name"),
    ("SyncPipeline", "relationship type with a space", at(f"{R0}.type", "LIKES A LOT"), "type"),
    ("SyncPipeline", "reference to no mapping", at(f"{R0}.from.references", "nobody"), "nobody"),
    (
        "SyncPipeline",
        "foreign key type with a space",
        at(f"{N0}.foreignKeys", [{"column": "x", "references": "product", "type": "BAD TYPE"}]),
        "type",
    ),
    ("SyncPipeline", "negative replicas", at("workers", {"replicas": -1}), "spec.workers.replicas"),
    ("SyncPipeline", "schedule in words", both(at("mode", "snapshot"), at("schedule", "every night")), "spec.schedule"),
    ("SyncPipeline", "unknown deletion policy", at("deletionPolicy", "sometimes"), "spec.deletionPolicy"),
    ("SyncPipeline", "suspend as a word", at("suspend", "yes"), "spec.suspend"),
    ("SyncPipeline", "policy on a one-way pipeline", at("conflictPolicyRef", {"name": "careful"}), "conflictPolicyRef"),
    ("SyncPipeline", "misspelt field", at("sourc", {}), "spec.sourc"),
    ("SyncPipeline", "two sources", at("source.files", FILES["files"]), "spec.source"),
    (
        "SyncPipeline",
        "not a Git URL",
        at("source", {"files": {"git": {"url": "ftp://x/kb"}}}),
        "spec.source.files.git.url",
    ),
    (
        "SyncPipeline",
        "token for an SSH URL",
        at("source", {"files": {"git": {"url": "ssh://git@h/kb.git", "https": {"token": {"env": "T"}}}}}),
        "https",
    ),
    (
        "SyncPipeline",
        "SSH key without known hosts",
        at("source", {"files": {"git": {"url": "ssh://git@h/kb.git", "ssh": {"privateKey": {"path": "/k"}}}}}),
        "knownHosts",
    ),
    ("ReconciliationJob", "no pipeline", drop("pipelineRef"), "spec.pipelineRef"),
    (
        "ReconciliationJob",
        "pipeline name with an underscore",
        at("pipelineRef.name", "my_shop"),
        "spec.pipelineRef.name",
    ),
    ("ReconciliationJob", "schedule in words", at("schedule", "never"), "spec.schedule"),
    ("ReconciliationJob", "ids without their entity", at("scope", {"ids": [1]}), "spec.scope"),
    ("ConflictPolicy", "unknown strategy", at("strategy", "sometimes"), "spec.strategy"),
    ("ConflictPolicy", "negative clock skew", at("clockSkewMs", -1), "spec.clockSkewMs"),
    ("ConflictPolicy", "merge rules on sourceWins", at("strategy", "sourceWins"), "merge"),
    ("ConflictPolicy", "unknown merge rule", at("merge.fields.stock", "avg"), "merge"),
]


def test_every_malformed_resource_is_refused_or_invalid_naming_the_field(
    kube: Service, graphsync_crds: None, namespace: str
) -> None:
    assert len(SWEEP) >= 40
    verdicts: dict[str, list[str]] = {"refused by the API server": [], "InvalidSpec by the operator": []}
    misses = []
    for index, (kind, what, change, field) in enumerate(SWEEP):
        spec = copy.deepcopy(BASES[kind]())
        change(spec)
        manifest = resource(kind, f"sweep-{index}", namespace, spec)
        done = kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest))
        said = done.stdout + done.stderr
        if done.returncode != 0:
            verdicts["refused by the API server"].append(what)
        else:
            # Stored: the operator's gate, before any child is built, must refuse it.
            stored = json.loads(
                kubectl(kube.env, "get", kind, manifest["metadata"]["name"], "-n", namespace, "-o", "json").stdout
            )
            try:
                parse_spec(stored, MODELS[kind])
            except Invalid as exc:
                said = str(exc)
                verdicts["InvalidSpec by the operator"].append(what)
            else:
                misses.append(f"{kind} ({what}): accepted and valid")
                continue
        if field not in said:
            misses.append(f"{kind} ({what}): {field!r} not named in: {said.strip()[:300]}")
    assert not misses, "\n".join(misses)
    assert all(verdicts.values()), verdicts
    for verdict, cases in verdicts.items():
        log.info("%d %s: %s", len(cases), verdict, "; ".join(cases))

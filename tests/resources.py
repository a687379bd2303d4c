"""Custom resources as a user writes them, for the operator's tests."""

from __future__ import annotations

import json
from typing import Any

from graphsync_dev import sample

API_VERSION = "graphsync.io/v1alpha1"


def resource(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def shop_spec(
    pg_url: str = "postgresql://app@db.example:5432/shop",
    redis_url: str = "redis://redis.example:6379/0",
    neo4j_uri: str = "bolt://neo4j.example:7687",
    schema: str = "shop",
    *,
    neo4j_password: bool = True,
) -> dict[str, Any]:
    """The shop sample's PostgreSQL -> Neo4j pipeline, passwords from Secrets."""
    neo4j: dict[str, Any] = {"uri": neo4j_uri}
    if neo4j_password:
        neo4j["password"] = {"secretKeyRef": {"name": "shop-db", "key": "neo4j-password"}}
    return {
        "mode": "snapshotThenStream",
        "source": {
            "postgres": {
                "url": pg_url,
                "password": {"secretKeyRef": {"name": "shop-db", "key": "pg-password"}},
                "schema": f"{schema}_graphsync",
            }
        },
        "transport": {"redisStreams": {"url": redis_url, "partitions": 2}},
        "target": {"neo4j": neo4j},
        "mappings": sample.mappings(schema),
        "batchSize": 200,
    }


def dumps(*manifests: dict[str, Any]) -> str:
    return "\n".join(json.dumps(manifest) for manifest in manifests)

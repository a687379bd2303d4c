"""A pipeline whose PostgreSQL takes TLS connections with client certificates only: the CA bundle, certificate and key
go from a Secret into the worker as read-only files, and the worker syncs through them."""

from __future__ import annotations

import base64

import psycopg
import pytest
from psycopg import sql

from graphsync_dev import sample, tls
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually, unique_name
from tests.e2e.helpers import ShopCluster, condition, secret

pytestmark = pytest.mark.e2e


def test_a_worker_syncs_from_a_tls_only_postgres_with_files_from_a_secret(
    cluster_shop: ShopCluster, tls_postgres: Service, authority: tls.Authority
) -> None:
    c = cluster_shop
    schema = unique_name("tls")
    with psycopg.connect(tls_postgres.env["GRAPHSYNC_PG_DSN"], autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
        sample.seed(conn, schema, customers=15)
        expected = shop.expected(conn, schema)
    client = authority.issue("worker", "graphsync")
    passwords = {
        "pg-password": tls_postgres.env["GRAPHSYNC_PG_PASSWORD"],
        "neo4j-password": c.neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD", ""),
    }
    c.apply(secret(c.namespace, passwords))
    material = {"ca.crt": authority.root.cert, "tls.crt": client.cert, "tls.key": client.key}
    c.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-tls", "namespace": c.namespace},
            "data": {key: base64.b64encode(path.read_bytes()).decode() for key, path in material.items()},
        }
    )
    c.schema = schema
    spec = c.spec()
    postgres_spec = spec["source"]["postgres"]
    postgres_spec["url"] = f"postgresql://graphsync@127.0.0.1:{tls_postgres.env['GRAPHSYNC_PG_PORT']}/postgres"
    postgres_spec["tls"] = {
        "mode": "verify-full",
        **{
            part: {"secretKeyRef": {"name": "db-tls", "key": key}}
            for part, key in (("ca", "ca.crt"), ("cert", "tls.crt"), ("key", "tls.key"))
        },
    }
    c.pipeline("sealed", spec)
    _, worker = c.run_worker("sealed")
    try:
        eventually(lambda: shop.actual(c.driver) == expected, "the TLS PostgreSQL's shop in Neo4j", timeout=120)
        eventually(lambda: condition(c.status("sealed"), "Ready").get("status") == "True", "the pipeline ready")
    finally:
        worker.stop()
    # The key never left its Secret and the worker's files.
    assert client.key.read_text() not in worker.log_path.read_text()

"""A PostgreSQL that takes TLS connections only, each with a client certificate: the pipeline syncs through it with
its CA bundle, client certificate and key given as files (as the operator mounts them from Secrets), and a wrong CA
or a missing client certificate is refused with the reason, before anything is written."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from graphsync import capture
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.endpoints import SECRETS_DIR_ENV
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import sample, tls
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name


def spec(pg: Service, schema: str, falkordb: Service, graph: str, tls_section: dict[str, Any]) -> PipelineSpec:
    env = pg.env
    return PipelineSpec.model_validate(
        {
            "name": unique_name("tls").replace("_", "-"),
            "mode": "snapshot",
            "source": {
                "postgres": {
                    "url": f"postgresql://graphsync@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "TLS_PG_PASSWORD"},
                    "schema": f"{schema}_graphsync",
                    "tls": tls_section,
                }
            },
            "target": {"falkordb": {"url": falkordb.env["GRAPHSYNC_FALKORDB_URL"], "graph": graph}},
            "mappings": shop.mappings(schema),
        }
    )


def once(pipeline: PipelineSpec) -> int:
    return run.run(pipeline, RunControl(stop=threading.Event(), until_idle=True)).synced


def test_a_pipeline_syncs_through_a_tls_only_postgres_with_a_client_certificate(
    tls_postgres: Service,
    authority: tls.Authority,
    falkordb_service: Service,
    falkordb_client: redis.Redis,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TLS_PG_PASSWORD", tls_postgres.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = tls_postgres.env["GRAPHSYNC_PG_DSN"]
    schema = unique_name("tls")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
        sample.seed(conn, schema, customers=20)
        want = shop.expected(conn, schema)
        # The server refuses a connection without TLS: the test proves nothing if it would take one.
        plain = dsn.split("?")[0] + "?sslmode=disable"
        with pytest.raises(psycopg.OperationalError, match="no encryption"):
            psycopg.connect(plain, connect_timeout=5).close()
    client = authority.issue("pipeline-client", "graphsync")
    stranger = tls.authority(run_dir / unique_name("other-ca"))

    refusals: dict[str, tuple[dict[str, Any], str]] = {
        # A CA bundle that did not sign the server's certificate.
        "wrong-ca": (
            {
                "ca": {"path": str(stranger.root.cert)},
                "cert": {"path": str(client.cert)},
                "key": {"path": str(client.key)},
            },
            "certificate verify failed",
        ),
        # No client certificate, where the server asks for one.
        "no-client-cert": ({"ca": {"path": str(authority.root.cert)}}, "certificate"),
    }
    for case, (section, reason) in refusals.items():
        graph = unique_name("g")
        # Where a run starts (a worker retries it, saying why in its status, until the Secret is set right).
        with pytest.raises(psycopg.OperationalError, match=reason):
            capture.prepare_source(spec(tls_postgres, schema, falkordb_service, graph, section))
        assert falkordb_client.exists(graph) == 0, f"{case}: written to the target"

    # As in a worker pod: files relative to the folder the operator mounts Secrets under.
    monkeypatch.setenv(SECRETS_DIR_ENV, str(authority.folder))
    graph = unique_name("g")
    section = {
        "mode": "verify-full",
        "ca": {"path": "ca.crt"},
        "cert": {"path": "pipeline-client.crt"},
        "key": {"path": "pipeline-client.key"},
    }
    assert once(spec(tls_postgres, schema, falkordb_service, graph, section)) > 0
    target = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph)
    try:
        assert shop.actual_falkordb(target) == want
    finally:
        target.close()

"""Redis (the transport) and FalkorDB (a target) reached by TLS only, each asking every client for a certificate:
a continuous pipeline streams through both with its CA bundle, client certificate and key given as files (as the
operator mounts them from Secrets), and a wrong CA is refused with the reason the run reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from graphsync import connect
from graphsync.connectors.redis import streams
from graphsync.spec.endpoints import SECRETS_DIR_ENV, FalkorDBTarget
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import process, sample, tls
from graphsync_dev import redis as redis_server
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name
from tests.integration.faults import Watched, converge
from tests.integration.test_neo4j_tls import refusal


@pytest.fixture
def tls_redis(run_dir: Path, authority: tls.Authority) -> Iterator[Service]:
    service = redis_server.start_tls_redis(run_dir / unique_name("redis"), authority)
    yield service
    for pid in service.pids:
        process.stop(pid)


@pytest.fixture
def tls_falkordb(run_dir: Path, authority: tls.Authority) -> Iterator[Service]:
    service = redis_server.start_tls_falkordb(run_dir / unique_name("falkordb"), authority)
    yield service
    for pid in service.pids:
        process.stop(pid)


def files(authority: tls.Authority, client: str, ca: Path | None = None) -> dict[str, Any]:
    """A tls section naming files relative to the secrets folder, as in a worker pod."""
    return {
        "ca": {"path": str(ca) if ca else "ca.crt"},
        "cert": {"path": f"{client}.crt"},
        "key": {"path": f"{client}.key"},
    }


def spec(pg: Service, schema: str, transport: dict[str, Any], target: dict[str, Any], graph: str) -> PipelineSpec:
    env = pg.env
    return PipelineSpec.model_validate(
        {
            "name": unique_name("tls").replace("_", "-"),
            "source": {
                "postgres": {
                    "url": f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "TLS_PG_PASSWORD"},
                    "schema": schema,
                }
            },
            "transport": {"redisStreams": transport},
            "target": {"falkordb": {**target, "graph": graph}},
            "mappings": shop.mappings(schema),
        }
    )


def test_a_pipeline_streams_through_a_tls_only_redis_into_a_tls_only_falkordb(
    tls_redis: Service,
    tls_falkordb: Service,
    authority: tls.Authority,
    postgres_service: Service,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TLS_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    schema = unique_name("tls")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
    redis_url, falkor_url = tls_redis.env["GRAPHSYNC_REDIS_URL"], tls_falkordb.env["GRAPHSYNC_FALKORDB_URL"]
    # Neither server takes a client without TLS, or without a certificate: the test proves nothing if they would.
    for url in (redis_url, falkor_url):
        with pytest.raises(redis.ConnectionError), redis.Redis.from_url(url.replace("rediss", "redis")) as plain:
            plain.ping()
        with (
            pytest.raises(redis.ConnectionError),
            redis.Redis.from_url(url, ssl_ca_certs=str(authority.root.cert)) as bare,
        ):
            bare.ping()
    # The client certificates the services were started with (files of the test's CA folder).
    transport = {"url": redis_url, "claimIdleSeconds": 1, "tls": files(authority, "redis-client")}
    target = {"url": falkor_url, "tls": files(authority, "falkordb-client")}
    monkeypatch.setenv(SECRETS_DIR_ENV, str(authority.folder))

    stranger = tls.authority(run_dir / unique_name("other-ca"))
    wrong_transport = {**transport, "tls": files(authority, "redis-client", stranger.root.cert)}
    wrong_target = {**target, "tls": files(authority, "falkordb-client", stranger.root.cert)}
    for case, (t, g) in {"transport": (wrong_transport, target), "target": (transport, wrong_target)}.items():
        told = refusal(spec(postgres_service, schema, t, g, unique_name("g")))
        assert "CERTIFICATE_VERIFY_FAILED" in told, f"wrong CA for the {case}: {told}"

    graph = unique_name("g")
    pipeline = spec(postgres_service, schema, transport, target, graph)
    watched = Watched(pipeline)
    watched.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        sample.seed(conn, schema, customers=20)
        graph_client = connect.falkordb_graph(
            FalkorDBTarget.model_validate(target | {"graph": graph}), "target.falkordb"
        )
        try:
            converge(lambda: shop.actual_falkordb(graph_client), lambda: shop.expected(conn, schema))
        finally:
            graph_client.close()
    watched.finish()
    assert watched.errors == []
    # The events went through the TLS Redis: its streams hold them.
    names = streams.Streams(prefix=f"graphsync:{pipeline.identity}", partitions=pipeline.redis_streams.partitions)
    with connect.redis_client(pipeline.redis_streams) as client:
        assert sum(int(client.xlen(name)) for name in names.names()) > 0

"""A Neo4j whose Bolt takes TLS connections only, each with a client certificate: the pipeline syncs into it, its
database named as on a server with several, with its CA bundle, client certificate and key given as files (as the
operator mounts them from Secrets); a wrong CA, a foreign or missing client certificate, or a database the server
lacks is refused with the reason the run reports, before anything is written."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
from psycopg import sql

from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.endpoints import SECRETS_DIR_ENV
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process, sample, tls
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name

PASSWORD = "tls-password"


@pytest.fixture
def tls_neo4j(run_dir: Path, authority: tls.Authority) -> Iterator[Service]:
    service = neo4j_server.start(
        run_dir / unique_name("neo4j"), auth=True, password=PASSWORD, heap="512m", tls=authority
    )
    yield service
    for pid in service.pids:
        process.stop(pid)


def spec(
    pg: Service, schema: str, uri: str, tls_section: dict[str, Any] | None, database: str = "neo4j"
) -> PipelineSpec:
    env = pg.env
    # Named, as a user of a server with several databases would (Community has one, `neo4j`).
    target: dict[str, Any] = {"uri": uri, "password": {"env": "TLS_NEO4J_PASSWORD"}, "database": database}
    if tls_section is not None:
        target["tls"] = tls_section
    return PipelineSpec.model_validate(
        {
            "name": unique_name("tls").replace("_", "-"),
            "mode": "snapshot",
            "source": {
                "postgres": {
                    "url": f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "TLS_PG_PASSWORD"},
                    "schema": f"{schema}_graphsync",
                }
            },
            "target": {"neo4j": target},
            "mappings": shop.mappings(schema),
        }
    )


def refusal(pipeline: PipelineSpec) -> str:
    """What a run reports when it cannot reach the target (a worker says it in its status and retries)."""
    stop = threading.Event()
    told: list[str] = []

    def seen(stats: RunStats) -> None:
        told.extend(stats.errors)
        stop.set()

    run.run(pipeline, RunControl(stop=stop, until_idle=True, on_batch=seen))
    return "\n".join(told)


def test_a_pipeline_syncs_into_a_tls_only_neo4j_with_a_client_certificate(
    tls_neo4j: Service,
    authority: tls.Authority,
    postgres_service: Service,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TLS_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    monkeypatch.setenv("TLS_NEO4J_PASSWORD", PASSWORD)
    uri = tls_neo4j.env["GRAPHSYNC_NEO4J_URI"]
    # Named as the server's certificate names it: the driver checks the host.
    uri = uri.replace("127.0.0.1", "localhost")
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    schema = unique_name("tls")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
        sample.seed(conn, schema, customers=20)
        want = shop.expected(conn, schema)
    # The server refuses a connection without TLS: the test proves nothing if it would take one.
    with (
        neo4j.GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as plain,
        pytest.raises(neo4j.exceptions.ServiceUnavailable),
    ):
        plain.verify_connectivity()
    client = authority.issue("pipeline-client", "graphsync")
    stranger = tls.authority(run_dir / unique_name("other-ca"))
    stranger_client = stranger.issue("stranger-client", "graphsync")
    refusals = {
        # A CA bundle that did not sign the server's certificate.
        "wrong-ca": (
            {
                "ca": {"path": str(stranger.root.cert)},
                "cert": {"path": str(client.cert)},
                "key": {"path": str(client.key)},
            },
            "SSLCertVerificationError",
        ),
        # A client certificate the server's CA did not sign.
        "foreign-client-cert": (
            {
                "ca": {"path": str(authority.root.cert)},
                "cert": {"path": str(stranger_client.cert)},
                "key": {"path": str(stranger_client.key)},
            },
            "Bolt handshake",
        ),
        # No client certificate, where the server asks for one.
        "no-client-cert": ({"ca": {"path": str(authority.root.cert)}}, "Bolt handshake"),
    }
    driver = neo4j_server.driver(tls_neo4j.env)
    try:
        empty = shop.actual(driver)
        for case, (section, reason) in refusals.items():
            told = refusal(spec(postgres_service, schema, uri, section))
            assert reason in told, f"{case}: {told}"
            assert shop.actual(driver) == empty, f"{case}: written to the target"

        # As in a worker pod: files relative to the folder the operator mounts Secrets under.
        monkeypatch.setenv(SECRETS_DIR_ENV, str(authority.folder))
        section = {
            "ca": {"path": "ca.crt"},
            "cert": {"path": "pipeline-client.crt"},
            "key": {"path": "pipeline-client.key"},
        }
        # A database the server does not have: the whole database refuses, no record is blamed.
        told = refusal(spec(postgres_service, schema, uri, section, database="nosuchdb"))
        assert "DatabaseNotFound" in told, told
        assert shop.actual(driver) == empty, "wrong database: written to the target"
        synced = run.run(
            spec(postgres_service, schema, uri, section), RunControl(stop=threading.Event(), until_idle=True)
        )
        assert synced.synced > 0
        assert shop.actual(driver) == want
    finally:
        driver.close()

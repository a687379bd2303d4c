"""Opening connections from a pipeline spec; secrets come from the environment, never from the spec."""

from __future__ import annotations

import json
import re
from typing import Any

import neo4j
import orjson
import psycopg
import redis
from neo4j.auth_management import ClientCertificate
from psycopg.types.json import set_json_loads

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.spec.endpoints import FalkorDBTarget, Neo4jTarget, PostgresSource, RedisStreams, ServerTls


def postgres(source: PostgresSource, *, autocommit: bool = False, replication: bool = False) -> psycopg.Connection[Any]:
    """`replication`: a walsender connection of the database, for streaming a logical slot."""
    password = source.password.resolve("source.postgres.password") if source.password else None
    tls = source.tls.conninfo("source.postgres.tls") if source.tls else {}
    walsender = {"replication": "database"} if replication else {}
    conninfo = psycopg.conninfo.make_conninfo(source.url, password=password, **tls, **walsender)
    conn = psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10)
    set_json_loads(_json_loads, conn)
    return conn


def redis_client(transport: RedisStreams) -> redis.Redis:
    password = transport.password.resolve("transport.redisStreams.password") if transport.password else None
    return redis.Redis.from_url(
        transport.url,
        password=password,
        decode_responses=True,
        socket_timeout=30,
        **redis_tls(transport.tls, "transport.redisStreams.tls"),
    )


def neo4j_driver(target: Neo4jTarget, field: str = "target.neo4j") -> neo4j.Driver:
    password = target.password.resolve(f"{field}.password") if target.password else None
    auth = (target.user, password) if password is not None else None
    # The driver retries a failed transaction only briefly (lock conflicts clear fast); longer
    # outages go back to the runner, whose backoff counts retries and yields to a shutdown. Server
    # notifications are about the engine's own queries ("label does not exist" before the first record of a
    # kind): nothing a user can act on, so they are not asked for (they were printed as warnings).
    return neo4j.GraphDatabase.driver(
        target.uri,
        auth=auth,
        max_transaction_retry_time=2.0,
        notifications_min_severity="OFF",
        **neo4j_tls(target.tls, f"{field}.tls"),
    )


def neo4j_tls(tls: ServerTls | None, field: str) -> dict[str, Any]:
    """The driver's TLS settings, the files resolved (a missing one names its field)."""
    if tls is None:
        return {}
    trust = neo4j.TrustCustomCAs(tls.ca.resolve(f"{field}.ca")) if tls.ca else neo4j.TrustSystemCAs()
    found: dict[str, Any] = {"encrypted": True, "trusted_certificates": trust}
    if tls.cert and tls.key:
        found["client_certificate"] = ClientCertificate(
            tls.cert.resolve(f"{field}.cert"), tls.key.resolve(f"{field}.key")
        )
    return found


def falkordb_graph(endpoint: FalkorDBTarget, field: str) -> Graph:
    """`field` names the endpoint in errors (a missing password's variable)."""
    password = endpoint.password.resolve(f"{field}.password") if endpoint.password else None
    return falkor_graph.connect(
        endpoint.url, endpoint.graph, password=password, tls=redis_tls(endpoint.tls, f"{field}.tls")
    )


def redis_tls(tls: ServerTls | None, field: str) -> dict[str, Any]:
    """redis-py's TLS settings (for a rediss:// URL), the files resolved (a missing one names its field)."""
    if tls is None:
        return {}
    found: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if tls.ca:
        found["ssl_ca_certs"] = tls.ca.resolve(f"{field}.ca")
    if tls.cert and tls.key:
        found["ssl_certfile"] = tls.cert.resolve(f"{field}.cert")
        found["ssl_keyfile"] = tls.key.resolve(f"{field}.key")
    return found


def _json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    # orjson turns integers beyond 64 bits (a numeric column may hold them) into floats, losing
    # digits; such rows, recognisable by a long run of digits, go to json, which keeps them exact.
    if _LONG_DIGITS.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)


_LONG_DIGITS = re.compile(rb"[0-9]{19}")

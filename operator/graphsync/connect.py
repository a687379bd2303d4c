"""Opening connections from a pipeline spec; secrets come from the environment, never from the spec."""

from __future__ import annotations

from typing import Any

import neo4j
import psycopg
import redis

from graphsync.spec.pipeline import Neo4jTarget, PostgresSource, RedisStreams


def postgres(source: PostgresSource, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    password = source.password.resolve("source.postgres.password") if source.password else None
    conninfo = psycopg.conninfo.make_conninfo(source.url, password=password)
    return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10)


def redis_client(transport: RedisStreams) -> redis.Redis:
    password = transport.password.resolve("transport.redisStreams.password") if transport.password else None
    return redis.Redis.from_url(transport.url, password=password, decode_responses=True, socket_timeout=30)


def neo4j_driver(target: Neo4jTarget) -> neo4j.Driver:
    password = target.password.resolve("target.neo4j.password") if target.password else None
    auth = (target.user, password) if password is not None else None
    # The driver retries a failed transaction only briefly (lock conflicts clear fast); longer
    # outages go back to the runner, whose backoff counts retries and yields to a shutdown.
    return neo4j.GraphDatabase.driver(target.uri, auth=auth, max_transaction_retry_time=2.0)

"""Which errors of a source-side connection (PostgreSQL, Redis) mean the connection itself is gone.

Retrying a call on a PostgreSQL connection the server closed (a restart, a failover, an
administrator's `pg_terminate_backend`) fails forever: psycopg does not reconnect by itself.
The run is then assembled again on fresh connections (see `pipelines.postgres`); what was applied but not
checkpointed is delivered again and converges, as after any crash.
"""

from __future__ import annotations

import psycopg
import redis


def connection_lost(error: BaseException) -> bool:
    """True when the connection that raised `error` cannot be used again and must be opened anew.

    psycopg raises OperationalError for a server that went away or refused the connection (SQLSTATE
    class 08, 57P01 admin shutdown, ...) and InterfaceError for a connection already closed; redis-py
    reconnects its pool by itself, but a command cut off mid-way (XACK, XREADGROUP) still raises.
    """
    return isinstance(
        error,
        psycopg.OperationalError | psycopg.InterfaceError | redis.ConnectionError | redis.TimeoutError,
    )

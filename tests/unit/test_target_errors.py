"""Which target errors are outages (the batch waits) and which blame a record (it is dead-lettered)."""

from __future__ import annotations

import neo4j.exceptions
import pytest
import redis

from graphsync import targets
from graphsync.connectors.falkordb.sink import transient as falkordb_transient
from graphsync.connectors.neo4j.sink import transient as neo4j_transient
from graphsync.spec.pipeline import PipelineSpec
from tests.unit.test_pipeline_spec import BASE, with_


def server_error(code: str) -> neo4j.exceptions.Neo4jError:
    # The driver's own way of turning a server's failure message into its exception class.
    return neo4j.exceptions.Neo4jError._basic_hydrate(neo4j_code=code, message="refused")


@pytest.mark.parametrize(
    "code",
    [
        "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
        "Neo.ClientError.Security.Unauthorized",
        "Neo.ClientError.Security.Forbidden",
        "Neo.ClientError.Security.CredentialsExpired",
        "Neo.ClientError.Database.DatabaseNotFound",
        "Neo.ClientError.Transaction.TransactionTimedOut",
        "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
        "Neo.TransientError.Transaction.DeadlockDetected",
    ],
)
def test_neo4j_errors_of_the_whole_database_are_outages(code: str) -> None:
    assert neo4j_transient(server_error(code))


@pytest.mark.parametrize(
    "code",
    [
        "Neo.ClientError.Statement.SyntaxError",
        "Neo.ClientError.Statement.TypeError",
        "Neo.ClientError.Schema.ConstraintValidationFailed",
    ],
)
def test_neo4j_errors_a_record_causes_are_not(code: str) -> None:
    assert not neo4j_transient(server_error(code))


def test_neo4j_driver_outages_are_transient() -> None:
    assert neo4j_transient(neo4j.exceptions.ServiceUnavailable("no route"))
    assert neo4j_transient(ConnectionRefusedError())


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        redis.exceptions.NoPermissionError("this user has no permissions to run the 'graph.query' command"),
        redis.exceptions.AuthenticationError("invalid username-password pair or user is disabled."),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable"),
        redis.exceptions.ResponseError("MASTERDOWN Link with MASTER is down"),
        redis.exceptions.ConnectionError("Connection refused"),
    ],
)
def test_falkordb_refusals_of_the_whole_server_are_outages(error: Exception) -> None:
    assert falkordb_transient(error)


def test_falkordb_query_errors_blame_the_record() -> None:
    assert not falkordb_transient(redis.exceptions.ResponseError("Type mismatch: expected Integer but was String"))


def test_a_neo4j_commit_cut_off_midway_is_an_outage() -> None:
    """The driver does not retry a commit whose connection dropped (it cannot know whether it landed); the
    engine's writes are idempotent (versions decide), so writing again is safe, and blaming the batch is not."""
    assert neo4j_transient(neo4j.exceptions.IncompleteCommit("connection lost during commit"))


def test_no_neo4j_connection_within_the_pools_deadline_is_an_outage() -> None:
    """A server slow to come back (a restart on a busy machine): the ping and prepare paths retry it too, rather
    than ending the run."""
    timed_out = neo4j.exceptions.ConnectionAcquisitionTimeoutError("failed to obtain a connection within 60.0s")
    assert neo4j_transient(timed_out)


def test_neo4j_takes_two_batches_at_once_and_falkordb_one() -> None:
    assert targets.writers(PipelineSpec.model_validate(BASE)) == 2
    falkordb = with_("target", {"falkordb": {"url": "redis://falkor:6379/0", "graph": "shop"}})
    assert targets.writers(PipelineSpec.model_validate(falkordb)) == 1

"""The worker process's settings from its environment, and its one-line log records."""

from __future__ import annotations

import logging

import pytest

from graphsync.logs import OneLine
from graphsync_operator import reports
from graphsync_operator.worker.identity import Identity

# The environment and the log.


def test_a_log_record_is_one_line() -> None:
    record = logging.LogRecord("runner", logging.WARNING, __file__, 1, "retrying: %s", ("refused:\nagain",), None)
    assert OneLine("%(levelname)s %(message)s").format(record) == "WARNING retrying: refused:\\nagain"


def test_identity_defaults() -> None:
    found = Identity.from_env({"HOSTNAME": "laptop"})
    assert found == Identity(pod="laptop", http_port=8080, heartbeat_seconds=reports.HEARTBEAT_SECONDS)
    assert found.lease is None


def test_identity_from_the_deployment() -> None:
    env = {
        "POD_NAME": "shop-worker-7d9f",
        "POD_NAMESPACE": "shop",
        "GRAPHSYNC_LEASE": "shop-progress",
        "GRAPHSYNC_HTTP_PORT": "9090",
        "GRAPHSYNC_HEARTBEAT_SECONDS": "2.5",
    }
    assert Identity.from_env(env) == Identity("shop-worker-7d9f", "shop", "shop-progress", 9090, 2.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GRAPHSYNC_HTTP_PORT", "http", "GRAPHSYNC_HTTP_PORT: 'http' is not a number"),
        ("GRAPHSYNC_HTTP_PORT", "70000", "not a port number"),
        ("GRAPHSYNC_HEARTBEAT_SECONDS", "0", "not a positive number"),
    ],
)
def test_a_bad_variable_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Identity.from_env({name: value})

"""Pipelines held in a namespace being deleted (pure): which namespaces, which pipelines, the release patch,
and what the Event about the namespace says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync_operator.build import events, names
from graphsync_operator.controller import ending

NOW = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


def namespace(name: str, *, deleted: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleted:
        meta["deletionTimestamp"] = "2026-12-06T04:00:00Z"
    return {"metadata": meta}


def pipeline(name: str, *, deleted: bool = True, finalizers: tuple[str, ...] = (names.FINALIZER,)) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "namespace": "team",
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": "41",
        "finalizers": list(finalizers),
    }
    if deleted:
        meta["deletionTimestamp"] = "2026-12-06T04:00:01Z"
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (None, ["team-a", "team-b", "tools"]),
        (["team-a"], ["team-a"]),
        (["team-*"], ["team-a", "team-b"]),
        (["team-*", "!team-b"], ["team-a"]),
        ([], []),
    ],
)
def test_only_watched_namespaces_being_deleted_are_ending(patterns: list[str] | None, expected: list[str]) -> None:
    found = [namespace(n, deleted=True) for n in ("tools", "team-b", "team-a")]
    found.append(namespace("team-live", deleted=False))
    assert ending.ending(found, patterns) == expected


def test_held_pipelines_are_those_being_deleted_that_wait_on_the_operators_finalizer() -> None:
    found = ending.held(
        [
            pipeline("a"),
            pipeline("live", deleted=False),
            pipeline("retained", finalizers=()),
            pipeline("other", finalizers=("example.com/keep",)),
            pipeline("both", finalizers=("example.com/keep", names.FINALIZER)),
        ]
    )
    assert [(h.name, h.uid, h.resource_version) for h in found] == [("a", "uid-a", "41"), ("both", "uid-both", "41")]


def test_the_release_drops_only_the_operators_finalizer_from_the_object_as_read() -> None:
    (held,) = ending.held([pipeline("both", finalizers=("example.com/keep", names.FINALIZER))])
    assert ending.release(held) == {"metadata": {"resourceVersion": "41", "finalizers": ["example.com/keep"]}}


def test_an_event_about_a_namespace_lives_in_default_under_a_name_said_once() -> None:
    found = events.namespace_event("shop-team", "orders", "Warning", "CleanupSkipped", "why", now=NOW)
    assert found["metadata"] == {"name": "shop-team.orders.cleanupskipped", "namespace": "default"}
    # A cluster-scoped object: no namespace of its own (the API server refuses an Event that names one).
    assert found["involvedObject"] == {"apiVersion": "v1", "kind": "Namespace", "name": "shop-team"}
    assert (found["type"], found["reason"], found["message"]) == ("Warning", "CleanupSkipped", "why")


def test_a_skipped_cleanup_says_what_stays_under_which_identity_and_what_to_do() -> None:
    message = events.cleanup_skipped("shop-team", "orders")
    assert message.startswith("SyncPipeline shop-team/orders (deletionPolicy cleanup): its namespace is being deleted")
    assert "'shop-team.orders'" in message
    assert "graphsync cleanup -f" in message
    assert "deletionPolicy: retain" in message
    assert len(message) <= 1024

"""Events as manifests (pure): about a resource, and about a namespace for what cannot be said inside it."""

from __future__ import annotations

from datetime import UTC, datetime

from graphsync_operator.build import events

NOW = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


def test_an_event_about_a_resource_lives_in_its_namespace_and_names_it() -> None:
    body = {
        "apiVersion": "graphsync.io/v1alpha1",
        "kind": "SyncPipeline",
        "metadata": {"name": "shop", "namespace": "a", "uid": "u1"},
    }
    found = events.event(body, "Warning", "CleanupFailed", "x" * 2000, NOW)
    assert found["metadata"] == {"generateName": "shop.", "namespace": "a"}
    assert found["involvedObject"] == {
        "apiVersion": "graphsync.io/v1alpha1",
        "kind": "SyncPipeline",
        "name": "shop",
        "namespace": "a",
        "uid": "u1",
    }
    assert len(found["message"]) == 1024
    assert found["firstTimestamp"] == found["lastTimestamp"] == "2026-12-06T04:30:00Z"


def test_an_event_about_a_namespace_lives_in_default_as_the_api_server_requires() -> None:
    found = events.namespace_event("shop-team", "Warning", "CleanupSkipped", "why", NOW)
    assert found["metadata"] == {"generateName": "shop-team.", "namespace": "default"}
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

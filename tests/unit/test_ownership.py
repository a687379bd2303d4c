"""Whose an object is, on plain data: the operator writes and deletes only its resource's children."""

from __future__ import annotations

from graphsync_operator.build import ownership
from graphsync_operator.build.names import Owner

OWNER = Owner(kind="SyncPipeline", name="shop", namespace="team-a", uid="uid-shop")


def child() -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": OWNER.metadata("shop-pipeline", {})}


def test_a_free_name_or_the_resources_own_child_may_be_written() -> None:
    assert ownership.owner_uid(child()) == "uid-shop"
    assert ownership.owned_by(None, "uid-shop")
    assert ownership.owned_by(child(), "uid-shop")


def test_an_object_without_the_resources_controller_reference_is_someone_elses() -> None:
    by_hand = {"metadata": {"name": "shop-pipeline"}}
    other = {"metadata": {"ownerReferences": [{**OWNER.reference(), "uid": "uid-other", "name": "shop"}]}}
    not_controller = {"metadata": {"ownerReferences": [{**OWNER.reference(), "controller": False}]}}
    for existing in (by_hand, other, not_controller):
        assert not ownership.owned_by(existing, "uid-shop")
    assert "it has no owner" in ownership.conflict("ConfigMap", "shop-pipeline", by_hand)
    message = ownership.conflict("ConfigMap", "shop-pipeline", other)
    assert message.startswith("ConfigMap 'shop-pipeline' already exists and is not this resource's")
    assert "it belongs to SyncPipeline shop" in message
    assert "neither takes it over nor deletes it" in message

"""`kubectl graphsync` end to end, steering a running pipeline: a backfill, a checkpoint reset and a schema
change asked through kubectl are carried out by the rolled worker and told in status."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok, wait_ready
from tests.e2e.plugin_calls import plugin, shop_running
from tests.e2e.test_operator_resources import events

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("plugin_on_path")]


def test_a_backfill_asked_through_kubectl_is_carried_out_by_the_rolled_worker_and_shown_in_status(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=30)
    # Drift the live stream never brings back: the target edited behind the pipeline's back.
    c.driver.execute_query("MATCH (n:Customer) WHERE n.id <= 10 SET n.name = 'tampered'")

    refused = plugin(c, "backfill", "shop", "--entity", "nobody")
    assert refused.returncode == 2
    assert "'nobody' is no entity type" in refused.stderr
    added = ok(plugin(c, "backfill", "shop", "--entity", "customer", "--through", "5", "--backfill-name", "first"))
    assert "syncpipeline.graphsync.io/shop: backfill first added to spec.backfills" in added
    assert c.status("shop").get("backfills", []) == []
    _, worker = c.roll("shop", pod, worker)

    def finished() -> dict[str, Any] | None:
        found = c.status("shop").get("backfills") or []
        return found[0] if found and found[0]["phase"] == "Completed" else None

    done = eventually(finished, "the backfill completed in status", timeout=120)
    assert (done["name"], done["entities"], done["written"], done["failed"]) == ("first", ["customer"], 5, 0)
    records, _, _ = c.driver.execute_query("MATCH (n:Customer) WHERE n.name = 'tampered' RETURN n.id AS id")
    assert sorted(record["id"] for record in records) == [6, 7, 8, 9, 10]
    # The same name again is refused: a name runs once.
    again = plugin(c, "backfill", "shop", "--entity", "customer", "--backfill-name", "first")
    assert again.returncode == 2
    assert "a backfill 'first' is already in spec.backfills" in again.stderr
    worker.stop()


def test_a_checkpoint_reset_asked_through_kubectl_replays_the_last_changes_and_is_told_in_status_and_an_event(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=30)
    c.pg.execute(f"UPDATE {c.schema}.customer SET name = 'late ' || id WHERE id <= 10")
    c.in_sync("the last ten changes in Neo4j")
    # The target restored from a backup taken before them: those ten entities as the snapshot wrote them.
    c.driver.execute_query("MATCH (n:Customer) WHERE n.id <= 10 SET n.name = 'name ' + n.id, n._graphsync_version = 0")

    refused = plugin(c, "reset", "shop", "--checkpoint", "slot", "--to", "end")
    assert refused.returncode == 2
    assert "this pipeline keeps no slot" in refused.stderr
    added = ok(plugin(c, "reset", "shop", "--checkpoint", "stream", "--back", "10", "--reset-name", "replay"))
    assert "syncpipeline.graphsync.io/shop: checkpoint reset replay added to spec.checkpointResets" in added
    _, worker = c.roll("shop", pod, worker)

    def applied() -> dict[str, Any] | None:
        found = c.status("shop").get("checkpointResets") or []
        return found[0] if found and found[0]["phase"] == "Applied" else None

    done = eventually(applied, "the reset applied in status", timeout=120)
    assert (done["name"], done["checkpoint"], done["moved"]) == ("replay", "stream", 10)
    c.in_sync("the ten changes read again")
    told = eventually(lambda: [e for e in events(c.kube, c.namespace, "shop") if "CheckpointReset" in e], "the Event")
    assert told == ["Normal CheckpointReset: checkpoint reset replay of stream: the last 10 change(s) are read again"]
    worker.stop()


def test_a_schema_change_stops_a_pipeline_with_policy_stop_until_accepted_through_kubectl(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    c.create(customers=20)
    c.secret()
    c.pipeline("shop", c.spec(schemaChanges={"policy": "stop", "checkIntervalSeconds": 1}))
    _, worker = c.run_worker("shop")
    c.in_sync("the shop in Neo4j")
    wait_ready(c.kube, c.namespace, "shop")

    c.pg.execute(f"ALTER TABLE {c.schema}.customer ADD COLUMN vip boolean NOT NULL DEFAULT false")
    degraded = eventually(
        lambda: (d := condition(c.status("shop"), "Degraded")).get("reason") == "SchemaChanged" and d,
        "Degraded SchemaChanged",
    )
    assert "customer: column vip added (boolean), stopped: policy stop" in degraded["message"]
    [change] = c.status("shop")["schemaChanges"]
    assert (change["entity"], change["phase"]) == ("customer", "Stopped")
    told = eventually(lambda: [e for e in events(c.kube, c.namespace, "shop") if "SchemaChanged" in e], "the Event")
    assert told[0].startswith("Warning SchemaChanged: ")
    # Nothing is read while stopped.
    c.pg.execute(f"UPDATE {c.schema}.customer SET name = 'held' WHERE id = 1")
    shown = ok(plugin(c, "schema", "shop"))
    assert "customer: changed\n  column vip added (boolean)" in shown
    records, _, _ = c.driver.execute_query("MATCH (n:Customer {id: 1}) RETURN n.name AS name")
    assert records[0]["name"] != "held"

    accepted = ok(plugin(c, "schema", "shop", "--accept"))
    assert "customer: accepted" in accepted
    eventually(
        lambda: condition(c.status("shop"), "Degraded").get("status") == "False", "the pipeline no longer Degraded"
    )
    eventually(
        lambda: c.driver.execute_query("MATCH (n:Customer {id: 1}) RETURN n.name AS name")[0][0]["name"] == "held",
        "the held change applied",
    )
    worker.stop()

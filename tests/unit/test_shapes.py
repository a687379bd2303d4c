"""Schema changes on plain data: what changed in a table's shape, which changes matter to the mapping, which
can be followed, and how the status, its conditions and Events tell them."""

from __future__ import annotations

from typing import Any

from graphsync.commands.schema import changes_text
from graphsync.connectors.postgres.columns import Columns
from graphsync.connectors.postgres.tables import Table
from graphsync.runner.stats import RunStats
from graphsync.shapes import backfill_name, breaking, diff, named_columns, relevant
from graphsync.spec.mapping import Mappings
from graphsync_operator.api.status import SchemaChangeStatus
from graphsync_operator.controller.assess import pipeline_status
from graphsync_operator.reports import schema_events
from graphsync_operator.worker.heartbeat import Tracker, report_of
from tests.unit.assess_data import NOW, observed, report, verdict

BEFORE = [[1, "id", "integer"], [2, "name", "text"], [3, "tier", "text"], [4, "secret", "text"]]
MAPPINGS = Mappings.model_validate(
    {
        "nodes": [
            {
                "name": "customer",
                "table": "shop.customer",
                "labels": ["Customer"],
                "key": "id",
                "properties": {"exclude": ["secret"], "rename": {"name": "full_name"}},
                "filter": [{"column": "tier", "operator": "Exists"}],
            },
            {
                "name": "orders",
                "table": "shop.orders",
                "labels": ["Order"],
                "key": "id",
                "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
            },
        ]
    }
)
CUSTOMER = Table("customer", "shop.customer", ("id",), Columns(drop=("secret",)))


def test_a_shape_change_is_told_apart_by_column_number() -> None:
    after = [[1, "id", "bigint"], [2, "full", "text"], [4, "secret", "text"], [5, "vip", "boolean"]]
    assert [c.detail for c in diff(BEFORE, after)] == [
        "column id: integer -> bigint",
        "column name renamed to full",
        "column tier dropped",
        "column vip added (boolean)",
    ]
    assert diff(BEFORE, BEFORE) == []
    # A column dropped and another of its name added is two changes, not a rename.
    assert [c.kind for c in diff(BEFORE, [*BEFORE[:2], [4, "secret", "text"], [5, "tier", "text"]])] == [
        "dropped",
        "added",
    ]


def test_only_changes_to_columns_that_reach_the_target_matter() -> None:
    changes = diff(BEFORE, [*BEFORE[:3], [4, "secret", "bytea"], [5, "vip", "boolean"]])
    assert [c.column for c in relevant(changes, CUSTOMER)] == ["vip"]
    kept = Table("customer", "shop.customer", ("id",), Columns(keep=("id", "name")))
    assert relevant(changes, kept) == []


def test_a_change_to_a_column_the_mapping_names_cannot_be_followed() -> None:
    named = named_columns(MAPPINGS, "customer", "updated_at")
    assert named == {"id", "tier", "name", "updated_at"}
    assert named_columns(MAPPINGS, "orders", None) == {"id", "customer_id"}
    changes = diff(BEFORE, [[1, "id", "integer"], [2, "name", "text"], [5, "vip", "boolean"]])
    assert [c.column for c in breaking(changes, named)] == ["tier"]
    assert breaking(diff(BEFORE, [*BEFORE, [5, "vip", "boolean"]]), named) == []


def test_a_backfill_that_follows_a_shape_is_named_after_it() -> None:
    name = backfill_name("customer", BEFORE)
    assert name.startswith("schema_customer_")
    assert len(name) == len("schema_customer_") + 8
    assert backfill_name("customer", BEFORE) == name != backfill_name("customer", BEFORE[:2])
    assert len(backfill_name("x" * 63, BEFORE)) <= 63


def test_the_command_prints_each_entity_type_and_its_changes() -> None:
    found = {"customer": ["column vip added (boolean)"], "orders": []}
    assert changes_text(found, accepted=False) == (
        "customer: changed\n  column vip added (boolean)\norders: as the pipeline took it"
    )
    assert changes_text(found, accepted=True).startswith("customer: accepted")


def stopped(**fields: Any) -> SchemaChangeStatus:
    base = {"entity": "customer", "table": "shop.customer", "changes": ["column tier dropped"], "phase": "Stopped"}
    return SchemaChangeStatus.model_validate({**base, **fields})


def test_a_schema_stop_makes_the_pipeline_degraded_until_it_is_lifted() -> None:
    status = pipeline_status(observed(reports=[report(lag_seconds=0.0, schema_changes=[stopped()])]))
    assert verdict(status)["Ready"] == ("False", "SchemaChanged")
    assert verdict(status)["Degraded"] == ("True", "SchemaChanged")
    # Nothing is read: kstatus reads it as stalled, not as a pipeline that merely lags.
    assert verdict(status)["Stalled"] == ("True", "SchemaChanged")
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert "shop.customer: column tier dropped" in ready.message
    assert "kubectl graphsync schema NAME --accept" in ready.message
    following = stopped(phase="Following", backfill="schema_customer_1a2b3c4d")
    status = pipeline_status(observed(reports=[report(lag_seconds=0.0, schema_changes=[following])]))
    assert verdict(status)["Ready"] == ("True", "Syncing")
    assert [c.backfill for c in status.schema_changes] == ["schema_customer_1a2b3c4d"]


def test_each_newly_found_change_is_an_event() -> None:
    before = [{"entity": "customer", "phase": "Following", "backfill": "b1"}]
    after = [
        {"entity": "customer", "table": "shop.customer", "changes": ["c"], "phase": "Following", "backfill": "b1"},
        {"entity": "orders", "table": "shop.orders", "changes": ["column x dropped"], "phase": "Stopped"},
    ]
    assert schema_events(before, after) == [
        ("Warning", "SchemaChanged", "shop.orders: column x dropped; the pipeline stopped until `schema --accept`")
    ]
    assert schema_events([], after[:1]) == [("Normal", "SchemaChanged", "shop.customer: c; customer is written again")]


def test_a_worker_stopped_before_its_first_batch_still_reports_the_stop() -> None:
    tracker = Tracker()
    assert tracker.snapshot() is None
    tracker.schema_changes([{"entity": "customer", "table": "t", "changes": ["c"], "phase": "Stopped"}])
    made = report_of(pod="p", started_at=NOW, now=NOW.timestamp(), snapshot=tracker.snapshot())
    assert [c.phase for c in made.schema_changes] == ["Stopped"]
    tracker(RunStats())
    made = report_of(pod="p", started_at=NOW, now=NOW.timestamp(), snapshot=tracker.snapshot())
    assert [c.entity for c in made.schema_changes] == ["customer"]

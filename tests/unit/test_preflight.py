"""What `graphsync check` and `kubectl graphsync check` decide from the facts each server gives (no servers)."""

from __future__ import annotations

from graphsync.connectors.postgres.logical.slot import TableShape
from graphsync.connectors.postgres.tables import tables_of
from graphsync.preflight import (
    Outcome,
    PostgresFacts,
    TableFacts,
    checks_text,
    index_checks,
    postgres_checks,
    table_privileges,
    wanted_indexes,
    worst,
)
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import Mode

MAPPINGS = Mappings.model_validate(
    {
        "nodes": [
            {"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"},
            {"name": "product", "table": "shop.product", "labels": ["Product", "Item"], "key": "sku"},
        ],
        "relationships": [
            {
                "name": "likes",
                "table": "shop.likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "product_sku", "references": "product"},
                "key": ["customer_id", "product_sku"],
            }
        ],
    }
)
ALL = frozenset(("SELECT", "TRIGGER", "INSERT", "UPDATE", "DELETE"))
NEEDED = {"customer": ("id",), "product": ("sku",), "likes": ("customer_id", "product_sku")}


def shape(name: str, identity: str, *columns: str) -> TableShape:
    return TableShape(name, ("id", "sku", "customer_id", "product_sku", "name"), identity, columns)


def facts(**changes: object) -> PostgresFacts:
    customer, product, likes = tables_of(MAPPINGS)
    tables = [
        TableFacts(customer, True, ALL, True, shape("shop.customer", "d", "id")),
        TableFacts(product, True, ALL, True, shape("shop.product", "f")),
        TableFacts(likes, True, ALL, True, shape("shop.likes", "d", "customer_id", "product_sku")),
    ]
    base: dict[str, object] = {
        "user": "app",
        "wal_level": "logical",
        "replication": True,
        "schema_exists": True,
        "schema_usable": True,
        "tables": tables,
    }
    return PostgresFacts(**{**base, **changes})  # type: ignore[arg-type]


def check(
    found: PostgresFacts, capture: CaptureMode = CaptureMode.LOGICAL, mode: Mode = Mode.CONTINUOUS
) -> dict[str, tuple[Outcome, str]]:
    checks = postgres_checks(found, mode=mode, capture=capture, schema="graphsync", needed=NEEDED)
    return {c.name: (c.outcome, c.detail) for c in checks}


def test_a_source_ready_for_logical_capture_passes_every_check() -> None:
    said = check(facts())
    assert {outcome for outcome, _ in said.values()} == {Outcome.OK}
    assert said["replica identity of shop.product"][1] == "full"
    assert said["replica identity of shop.customer"][1] == "id"


def test_logical_capture_needs_the_wal_level_the_role_and_a_replica_identity_holding_the_key() -> None:
    customer, product, likes = facts().tables
    bare = TableFacts(customer.table, True, ALL, True, shape("shop.customer", "n"))
    short = TableFacts(likes.table, True, ALL, True, shape("shop.likes", "i", "customer_id"))
    said = check(facts(wal_level="replica", replication=False, tables=[bare, product, short]))
    assert said["wal_level"][0] is Outcome.FAILED
    assert "ALTER SYSTEM SET wal_level = logical" in said["wal_level"][1]
    assert said["replication"] == (Outcome.FAILED, "capture logical needs ALTER ROLE app REPLICATION")
    assert said["replica identity of shop.customer"][0] is Outcome.FAILED
    assert "ALTER TABLE shop.customer REPLICA IDENTITY FULL" in said["replica identity of shop.customer"][1]
    assert "lacks column(s) product_sku" in said["replica identity of shop.likes"][1]


def test_triggers_need_the_trigger_privilege_and_no_replication() -> None:
    customer, product, likes = facts().tables
    readonly = TableFacts(customer.table, True, frozenset({"SELECT"}), False)
    said = check(facts(wal_level="replica", replication=False, tables=[readonly, product, likes]), CaptureMode.TRIGGERS)
    assert "wal_level" not in said
    assert "replication" not in said
    assert said["table shop.customer"] == (Outcome.FAILED, "app lacks TRIGGER: GRANT TRIGGER ON shop.customer TO app")
    assert "publication of shop.customer" not in said  # only logical capture publishes


def test_a_snapshot_reads_only_and_a_missing_table_is_named() -> None:
    customer, product, likes = facts().tables
    gone = TableFacts(customer.table, False)
    said = check(facts(tables=[gone, product, likes]), CaptureMode.LOGICAL, Mode.SNAPSHOT)
    assert said["table shop.customer"] == (Outcome.FAILED, "does not exist (mapping customer)")
    assert said["table shop.product"] == (Outcome.OK, "SELECT")
    assert table_privileges(Mode.BIDIRECTIONAL, None) == ("SELECT", "INSERT", "UPDATE", "DELETE")


def test_logical_capture_publishes_only_tables_the_user_owns() -> None:
    customer, product, likes = facts().tables
    lent = TableFacts(customer.table, True, ALL, False, customer.shape)
    said = check(facts(tables=[lent, product, likes]))
    assert said["publication of shop.customer"][0] is Outcome.FAILED
    assert "OWNER TO app" in said["publication of shop.customer"][1]


def test_an_engine_schema_the_user_cannot_create_in_is_named_with_the_grant() -> None:
    said = check(facts(schema_exists=False, schema_usable=False))
    assert said["schema graphsync"] == (
        Outcome.FAILED,
        "app may not create objects in it: GRANT CREATE ON DATABASE <the database> TO app",
    )
    assert check(facts(schema_exists=False))["schema graphsync"] == (Outcome.OK, "the engine creates it as it starts")


def test_a_missing_index_is_a_warning_the_sink_mends() -> None:
    wanted = wanted_indexes(MAPPINGS)
    assert wanted == [("Customer", "id"), ("Product", "sku"), ("LIKES", "_graphsync_key")]
    found = index_checks(wanted, [("Customer", "id"), ("Item", "sku")])
    assert [c.outcome for c in found] == [Outcome.OK, Outcome.WARNING, Outcome.WARNING]
    assert worst(found) is Outcome.WARNING
    assert worst([]) is Outcome.OK


def test_the_table_ends_with_the_count_of_each_outcome() -> None:
    found = postgres_checks(
        facts(replication=False), mode=Mode.CONTINUOUS, capture=CaptureMode.LOGICAL, schema="graphsync", needed=NEEDED
    )
    lines = checks_text([c.data() for c in found]).splitlines()
    assert lines[0].split() == ["SIDE", "CHECK", "RESULT", "DETAIL"]
    assert lines[-1] == f"{len(found) - 1} ok, 1 failed"
    assert any(line.split()[:3] == ["source", "replication", "FAILED"] for line in lines)

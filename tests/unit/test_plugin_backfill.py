"""kubectl graphsync backfill on plain data: the item the options ask for, checked against the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync_operator.plugin import backfill, declared
from graphsync_operator.plugin.command import parser
from graphsync_operator.plugin.steer import PluginError

PIPELINE: dict[str, Any] = {
    "metadata": {"name": "shop", "resourceVersion": "41"},
    "spec": {
        "mappings": {
            "nodes": [{"name": "customer", "labels": ["Customer"], "key": "id"}],
            "relationships": [
                {
                    "name": "likes",
                    "type": "LIKES",
                    "from": {"column": "customer_id", "references": "customer"},
                    "to": {"column": "other_id", "references": "customer"},
                    "key": ["customer_id", "other_id"],
                }
            ],
        },
        "backfills": [{"name": "first", "entities": ["customer"]}],
    },
}


def added(item: dict[str, Any]) -> list[dict[str, Any]]:
    items = declared.appended(PIPELINE, backfill.BACKFILLS, item)
    backfill.check(PIPELINE["spec"], items)
    return items


def test_the_options_make_one_item_keys_typed_as_written() -> None:
    args = parser().parse_args(
        ["backfill", "shop", "--entity", "customer", "--after", "10", "--through", "x-2", "--backfill-name", "again"]
    )
    item = backfill.document(args.backfill_name, args.entity, args.ids, args.after, args.through)
    assert item == {"name": "again", "entities": ["customer"], "keys": {"after": 10, "through": "x-2"}}
    assert backfill.document("b", ["customer"], ["7", "-3", "k9"], None, None)["ids"] == [7, -3, "k9"]
    assert backfill.default_name(datetime(2026, 12, 6, 15, 4, 5, tzinfo=UTC)) == "backfill_20261206_150405"


def test_an_item_is_appended_and_patched_at_the_version_read() -> None:
    item = backfill.document("again", ["customer"], [], None, "50")
    backfills = added(item)
    assert [b["name"] for b in backfills] == ["first", "again"]
    assert declared.patch(PIPELINE, backfill.BACKFILLS, backfills) == {
        "metadata": {"resourceVersion": "41"},
        "spec": {"backfills": backfills},
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"name": "first", "entities": ["customer"]},
            "--backfill-name: a backfill 'first' is already in spec.backfills; a name is carried out once",
        ),
        ({"name": "b", "entities": ["nobody"]}, "entities[0]: 'nobody' is no entity type"),
        ({"name": "b", "entities": ["likes"], "ids": [1]}, "ids select nodes, and 'likes' is a relationship"),
        ({"name": "b", "entities": ["customer"], "keys": {"after": 9, "through": 2}}, "the range is empty"),
        ({"name": "b c", "entities": []}, "name"),
    ],
)
def test_a_backfill_that_would_not_run_is_refused_before_anything_is_patched(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(PluginError, match=message.replace("[", r"\[").replace("]", r"\]")):
        added(item)


def test_waiting_ends_once_the_status_says_it_is_done() -> None:
    def with_phase(phase: str) -> dict[str, Any]:
        return {**PIPELINE, "status": {"backfills": [{"name": "again", "phase": phase}]}}

    assert not declared.finished(PIPELINE, backfill.BACKFILLS, "again")
    assert not declared.finished(with_phase("Running"), backfill.BACKFILLS, "again")
    assert declared.finished(with_phase("Completed"), backfill.BACKFILLS, "again")
    assert declared.finished(with_phase("Partial"), backfill.BACKFILLS, "again")
    assert not declared.finished(with_phase("Completed"), backfill.BACKFILLS, "other")

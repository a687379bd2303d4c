"""Backfills on plain data: what a spec may declare, which backfills a run still owes, how progress reads."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.backfill import Phase, Progress, from_record, pending, phase_of, progress_of
from graphsync.commands import specfile
from graphsync.reconcile.report import EntityReport, Outcome, Report
from graphsync.spec.backfill import Backfill
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import Action, KeyRange
from tests.unit.test_pipeline_spec import BASE

MAPPINGS = {
    "nodes": [
        {"name": "customer", "labels": ["Customer"], "key": "id"},
        {"name": "product", "labels": ["Product"], "key": "sku"},
    ],
    "relationships": [
        {
            "name": "likes",
            "type": "LIKES",
            "from": {"column": "customer_id", "references": "customer"},
            "to": {"column": "product_id", "references": "product"},
            "key": ["customer_id", "product_id"],
        }
    ],
}


def spec_with(*backfills: dict[str, Any]) -> PipelineSpec:
    return PipelineSpec.model_validate({**BASE, "mappings": MAPPINGS, "backfills": list(backfills)})


def refusal(*backfills: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        spec_with(*backfills)
    return specfile.format_errors(caught.value)


def test_a_backfill_is_a_repair_of_its_scope() -> None:
    spec = spec_with({"name": "again", "entities": ["customer"], "keys": {"after": 10, "through": 20}})
    job = spec.backfills[0].job()
    assert job.action is Action.REPAIR
    assert job.scope.entities == ("customer",)
    assert job.scope.keys == KeyRange(after=10, through=20)
    assert spec_with().backfills == ()


@pytest.mark.parametrize(
    ("backfills", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], "backfills[1].name: 'a' is used twice"),
        ([{"name": "a", "entities": ["nobody"]}], "backfills[0].entities[0]: 'nobody' is no entity type"),
        ([{"name": "a", "entities": ["likes"], "ids": [1]}], "ids select nodes, and 'likes' is a relationship"),
        ([{"name": "a", "entities": ["likes"], "keys": {"through": 3}}], "keys select nodes"),
        ([{"name": "a", "ids": [1]}], "ids: name the node entity types"),
        ([{"name": "a", "entities": ["customer"], "ids": [1], "keys": {"after": 0}}], "ids or a key range, not both"),
        ([{"name": "a", "entities": ["customer"], "keys": {"after": 5, "through": 5}}], "the range is empty"),
        ([{"name": "a", "entities": ["customer"], "keys": {"after": 1, "through": "z"}}], "both as numbers or both"),
        ([{"name": "bad name"}], "backfills[0].name"),
    ],
)
def test_a_backfill_that_cannot_run_is_refused_naming_it(backfills: list[dict[str, Any]], message: str) -> None:
    assert message in refusal(*backfills)


def test_a_files_pipeline_takes_no_backfills() -> None:
    document = {
        "name": "kb",
        "source": {"files": {"git": {"url": "https://git.example/kb.git"}}},
        "target": BASE["target"],
        "mode": "snapshot",
        "backfills": [{"name": "a"}],
    }
    with pytest.raises(ValidationError, match="backfills: a files source"):
        PipelineSpec.model_validate(document)


def test_a_key_range_bounds_the_walk_and_refuses_a_key_of_another_kind() -> None:
    keys = KeyRange(after=10, through=20)
    assert keys.within(20)
    assert keys.within(11)
    assert not keys.within(21)
    assert KeyRange(after="b").within("zzz")
    assert KeyRange(through="m").within("apple")
    assert not KeyRange(through="m").within("melon")
    with pytest.raises(ValueError, match=r"keys\.through: 20 is a number"):
        keys.within("15")
    with pytest.raises(ValueError, match="is a number"):
        keys.within(True)


def test_a_run_owes_the_backfills_not_done_in_the_spec_order() -> None:
    declared = [Backfill(name=name) for name in ("a", "b", "c", "d")]
    known = {
        "a": Progress("a", Phase.COMPLETED),
        "b": Progress("b", Phase.PARTIAL),
        "c": Progress("c", Phase.FAILED),
    }
    assert [backfill.name for backfill in pending(declared, known)] == ["c", "d"]


def test_progress_follows_the_repair_carrying_it_out() -> None:
    report = Report("shop", Backfill(name="a", entities=("customer",)).job())
    report.entities.append(EntityReport("customer", source=40, missing=2, different=3, repaired=4, failed=1))
    live = progress_of("a", report)
    assert (live.phase, live.compared, live.written, live.failed) == (Phase.RUNNING, 40, 4, 1)
    assert live.run == report.id
    assert live.entities == ["customer"]
    report.finish()
    assert progress_of("a", report).phase is Phase.PARTIAL
    assert progress_of("a", report).summary()["finishedAt"] is not None
    assert [phase_of(outcome) for outcome in Outcome] == [
        Phase.RUNNING,
        Phase.COMPLETED,
        Phase.COMPLETED,
        Phase.COMPLETED,
        Phase.PARTIAL,
        Phase.FAILED,
    ]


def test_a_stored_record_reads_back_and_a_cut_short_one_is_owed_again() -> None:
    stored = Progress("a", Phase.COMPLETED, ["customer"], compared=9, written=2, started_at="t0", run="r1").summary()
    assert from_record(stored) == Progress("a", Phase.COMPLETED, ["customer"], 9, 2, 0, "t0", None, None, "r1")
    assert from_record({"name": "a", "phase": "Running"}).phase is Phase.PENDING


def test_a_backfill_of_the_rows_matching_a_filter_scopes_its_repair_by_it() -> None:
    gold = [{"column": "tier", "operator": "In", "values": ["gold"]}]
    spec = spec_with({"name": "gold", "entities": ["customer"], "filter": gold})
    [condition] = spec.backfills[0].job().scope.filter
    assert condition.holds({"tier": "gold"})
    assert not condition.holds({"tier": "silver"})
    assert "backfills[0].filter[0].values" in refusal({"name": "g", "filter": [{"column": "tier", "operator": "In"}]})

"""Checkpoint resets on plain data: what the spec accepts and refuses, how a stream's entries are chosen, the
records and the status they become, and the Events the operator posts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.connectors.postgres.logical.pgoutput import lsn_value
from graphsync.resets import Outcome, Phase, from_record
from graphsync.resets.groups import counted, entry_key, pick
from graphsync.resets.moves import Refused
from graphsync.resets.rows import watermark
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.resets import CheckpointReset
from graphsync_operator.reports import WorkerReport, WorkerState, checkpoint_resets_of, reset_events

MAPPINGS = {"nodes": [{"name": "customer", "table": "public.customer", "labels": ["Customer"], "key": "id"}]}


def pipeline(mode: str, capture: str = "triggers", **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"url": "postgresql://u@h/db", "capture": capture}
    if mode == "incremental":
        source["watermarkColumn"] = "updated_at"
    document: dict[str, Any] = {
        "source": {"postgres": source},
        "target": {"neo4j": {"uri": "bolt://h:7687"}},
        "mappings": MAPPINGS,
        "mode": mode,
        **extra,
    }
    if capture != "logical" and mode in ("continuous", "snapshotThenStream"):
        document["transport"] = {"redisStreams": {"url": "redis://h:6379"}}
    return document


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        PipelineSpec.model_validate(document)
    return str(caught.value)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"checkpoint": "stream", "back": 5, "forward": 5},
            "exactly one of back, forward or to (given: back, forward)",
        ),
        ({"checkpoint": "stream"}, "given: none"),
        ({"checkpoint": "slot", "back": 5}, "a replication slot cannot go back"),
        ({"checkpoint": "snapshot", "back": 5}, "use to: start for snapshot"),
        ({"checkpoint": "snapshot", "forward": 5}, "only a stream or a slot skips changes"),
        ({"checkpoint": "stream", "to": "1700000000000-0"}, "a stream moves to start or end"),
        ({"checkpoint": "slot", "to": "yesterday"}, "an LSN such as 0/1A2B3C4"),
        ({"checkpoint": "snapshot", "to": "end"}, "can only start again"),
        ({"checkpoint": "watermark:customer", "to": "end"}, "a watermark has no end"),
        ({"checkpoint": "offsets", "to": "start"}, "String should match pattern"),
        ({"checkpoint": "stream", "back": 0}, "greater than or equal to 1"),
    ],
)
def test_a_reset_that_cannot_work_is_refused_naming_what_is_wrong(item: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CheckpointReset.model_validate({"name": "r", **item})
    assert expected in str(caught.value)


def test_a_reset_must_name_a_position_the_pipeline_keeps() -> None:
    logical = refusal(
        pipeline("snapshotThenStream", "logical", checkpointResets=[{"name": "r", "checkpoint": "stream", "back": 1}])
    )
    assert "checkpointResets[0].checkpoint: this pipeline keeps no stream (it keeps: snapshot, slot)" in logical
    continuous = refusal(
        pipeline("continuous", checkpointResets=[{"name": "r", "checkpoint": "watermark:customer", "to": "start"}])
    )
    assert "keeps no watermark:customer (it keeps: stream)" in continuous
    entity = refusal(
        pipeline("incremental", checkpointResets=[{"name": "r", "checkpoint": "watermark:order", "to": "start"}])
    )
    assert "'order' is not an entity type of the mappings" in entity
    twice = [{"name": "r", "checkpoint": "stream", "back": 1}, {"name": "r", "checkpoint": "stream", "forward": 1}]
    assert "checkpointResets[1].name: 'r' is used twice" in refusal(pipeline("continuous", checkpointResets=twice))


def test_resets_each_kind_of_pipeline_keeps_are_accepted() -> None:
    for document in (
        pipeline("continuous", checkpointResets=[{"name": "a", "checkpoint": "stream", "back": 10}]),
        pipeline(
            "snapshotThenStream", "logical", checkpointResets=[{"name": "a", "checkpoint": "slot", "to": "0/1A2B"}]
        ),
        pipeline("incremental", checkpointResets=[{"name": "a", "checkpoint": "watermark:customer", "to": '["x", 1]'}]),
        pipeline("snapshot", checkpointResets=[{"name": "a", "checkpoint": "snapshot", "to": "start"}]),
    ):
        assert PipelineSpec.model_validate(document).checkpoint_resets[0].name == "a"


def test_the_newest_or_oldest_entries_are_chosen_over_every_stream_in_publishing_order() -> None:
    candidates = {"s:0": ["5-0", "3-0", "1-0"], "s:1": ["4-1", "4-0", "2-0"], "s:2": []}
    assert pick(candidates, 3, newest=True) == {"s:0": ["5-0"], "s:1": ["4-1", "4-0"]}
    assert pick(candidates, 4, newest=False) == {"s:0": ["1-0", "3-0"], "s:1": ["2-0", "4-0"]}
    assert pick(candidates, 100, newest=True) == {"s:0": ["5-0", "3-0", "1-0"], "s:1": ["4-1", "4-0", "2-0"]}
    # Numeric, not textual: 10 milliseconds come after 9.
    assert entry_key("10-0") > entry_key("9-5") > entry_key("9-0")
    assert (counted(None, -3), counted(10, -3), counted(2, -3), counted(1, 4)) == (None, 7, 0, 5)


def test_a_watermark_is_set_to_a_json_list_as_long_as_the_one_it_replaces() -> None:
    assert watermark('["2026-12-01T00:00:00+00:00", 7]', ["2026-12-05T00:00:00+00:00", 42]) == [
        "2026-12-01T00:00:00+00:00",
        7,
    ]
    assert watermark('["x"]', None) == ["x"]
    for text, before, expected in (
        ("2026-12-01", None, "is not JSON"),
        ('{"a": 1}', None, "is not a watermark"),
        ('["x"]', ["y", 1], r"has 1 value\(s\); this watermark has 2"),
    ):
        with pytest.raises(Refused, match=expected):
            watermark(text, before)


def test_lsns_compare_as_numbers() -> None:
    assert lsn_value("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert lsn_value("0/10") > lsn_value("0/F")


def test_a_record_reads_back_as_the_outcome_the_status_shows() -> None:
    outcome = Outcome("skip", "stream", Phase.APPLIED, 20, "the next 20 change(s) are skipped", {"a": 1}, {"a": 2}, "t")
    row = {
        "name": "skip",
        "checkpoint": "stream",
        "phase": "Applied",
        "moved": 20,
        "message": "the next 20 change(s) are skipped",
        "before": '{"a":1}',
        "after": '{"a":2}',
        "appliedAt": "t",
    }
    assert from_record(row) == outcome
    assert outcome.summary() == {**row, "before": '{"a":1}', "after": '{"a":2}'}
    assert Outcome("r", "slot").summary() == {"name": "r", "checkpoint": "slot", "phase": "Pending"}


def report(pod: str, started: str, items: list[dict[str, Any]]) -> WorkerReport:
    return WorkerReport.model_validate(
        {
            "pod": pod,
            "startedAt": started,
            "heartbeat": started,
            "state": WorkerState.RUNNING,
            "checkpointResets": items,
        }
    )


def test_the_status_shows_the_resets_of_the_newest_pod_and_an_event_for_each_newly_applied_or_refused() -> None:
    old = report("a", "2026-12-06T10:00:00Z", [{"name": "r", "checkpoint": "stream", "phase": "Pending"}])
    new = report("b", "2026-12-06T11:00:00Z", [{"name": "r", "checkpoint": "stream", "phase": "Applied", "moved": 3}])
    [shown] = checkpoint_resets_of([old, new])
    assert (shown.phase, shown.moved) == ("Applied", 3)
    assert checkpoint_resets_of([report("c", "2026-12-06T12:00:00Z", [])]) == []

    before = [{"name": "r", "phase": "Pending"}, {"name": "s", "phase": "Applied"}]
    after = [
        {"name": "r", "checkpoint": "stream", "phase": "Applied", "message": "the last 3 change(s) are read again"},
        {"name": "s", "checkpoint": "stream", "phase": "Applied"},
        {"name": "t", "checkpoint": "slot", "phase": "Refused", "message": "to: 0/1 is not past ..."},
        {"name": "u", "checkpoint": "slot", "phase": "Pending"},
    ]
    assert reset_events(before, after) == [
        ("Normal", "CheckpointReset", "checkpoint reset r of stream: the last 3 change(s) are read again"),
        ("Warning", "CheckpointResetRefused", "checkpoint reset t of slot: to: 0/1 is not past ..."),
    ]

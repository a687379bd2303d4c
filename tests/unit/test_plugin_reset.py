"""kubectl graphsync reset on plain data: the item the options ask for, checked with the whole pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_operator.plugin import declared, reset
from graphsync_operator.plugin.command import parser
from graphsync_operator.plugin.steer import PluginError

SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "syncpipeline-postgres-neo4j.yaml"


def pipeline() -> dict[str, Any]:
    resource: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    resource["metadata"]["resourceVersion"] = "7"
    return resource


def test_the_options_make_one_item() -> None:
    args = parser().parse_args(["reset", "shop", "--checkpoint", "stream", "--back", "30", "--reset-name", "replay"])
    item = reset.document(args.reset_name, args.checkpoint, args.back, args.forward, args.to)
    assert item == {"name": "replay", "checkpoint": "stream", "back": 30}
    assert reset.document("r", "slot", None, None, "end") == {"name": "r", "checkpoint": "slot", "to": "end"}
    assert reset.default_name(datetime(2026, 12, 6, 15, 4, 5, tzinfo=UTC)) == "reset_20261206_150405"
    with pytest.raises(SystemExit):
        parser().parse_args(["reset", "shop", "--checkpoint", "stream", "--back", "3", "--forward", "2"])


def test_a_reset_is_checked_with_the_whole_pipeline_and_patched_at_the_version_read() -> None:
    found = pipeline()
    items = declared.appended(found, reset.RESETS, {"name": "replay", "checkpoint": "stream", "back": 30})
    reset.check(found["spec"], items)
    assert declared.patch(found, reset.RESETS, items) == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"checkpointResets": [{"name": "replay", "checkpoint": "stream", "back": 30}]},
    }
    with pytest.raises(PluginError, match=r"this pipeline keeps no slot \(it keeps: snapshot, stream\)"):
        reset.check(found["spec"], [{"name": "r", "checkpoint": "slot", "to": "end"}])
    with pytest.raises(PluginError, match="a stream moves to start or end"):
        reset.check(found["spec"], [{"name": "r", "checkpoint": "stream", "to": "0/1"}])
    taken = {**found, "spec": {**found["spec"], "checkpointResets": items}}
    with pytest.raises(PluginError, match="--reset-name: a checkpoint reset 'replay' is already"):
        declared.appended(taken, reset.RESETS, {"name": "replay", "checkpoint": "stream", "forward": 1})


def test_waiting_ends_applied_or_refused_and_says_which() -> None:
    def with_phase(phase: str) -> dict[str, Any]:
        return {"status": {"checkpointResets": [{"name": "r", "phase": phase, "message": "m"}]}}

    assert not declared.finished(with_phase("Pending"), reset.RESETS, "r")
    assert declared.finished(with_phase("Applied"), reset.RESETS, "r")
    assert declared.finished(with_phase("Refused"), reset.RESETS, "r")
    assert reset.said({"name": "r", "phase": "Refused", "message": "a slot cannot go back"}) == (
        "checkpoint reset r: Refused: a slot cannot go back"
    )

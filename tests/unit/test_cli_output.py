"""Every command that prints data, through each -o: the table for people (wider with -o wide), the same data as
JSON and YAML in one key style, camelCase, with null (never "-") for what is not known (no servers)."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from graphsync.change import Operation
from graphsync.cleanup import CleanupReport
from graphsync.commands import checkpoints, cleanup, conflicts, deadletter, history, output, progress, reconcile, schema
from graphsync.commands import validate as validate_command
from graphsync.conflicts.held import HeldConflict
from graphsync.connectors.postgres.outbox import EventStatus, OutboxEvent
from graphsync.positions import Position
from graphsync.runner.contracts import DeadLetter
from graphsync.runner.stats import RunStats
from graphsync_operator.plugin import summary, version
from tests.resources import resource, shop_spec

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")


def letters() -> list[dict[str, Any]]:
    letter = DeadLetter(7, "customer", 42, "upsert", {"id": 42, "email": None}, 9, "source", "bad email", 3, AT, None)
    again = DeadLetter(8, "orders", "A-1", "delete", {}, 10, None, "no customer", 1, AT, AT)
    return deadletter.letters_data([letter, again])


def events() -> list[dict[str, Any]]:
    event = OutboxEvent(5, "customer", 42, Operation.UPSERT, {"id": 42}, 5, None, EventStatus.FAILED, 2, "timeout", AT)
    return deadletter.events_data([event])


def held() -> list[dict[str, Any]]:
    conflict = HeldConflict(
        "3f2a9c0d1b7e", "person", 5, "person:5", {"name": "a"}, {"name": "b"}, None, AT.isoformat(), {}, reason="manual"
    )
    return [conflicts.record(conflict)]


def runs() -> list[dict[str, Any]]:
    sync = {"id": "r1", "kind": "sync", "mode": "continuous", "startedAt": AT.isoformat(), "outcome": "completed"}
    failed = {"id": "r2", "kind": "reconcile", "action": "report", "startedAt": AT.isoformat(), "outcome": "failed"}
    return [{**sync, "synced": 1200, "finishedAt": None}, {**failed, "error": "target unreachable"}]


def status_report() -> summary.Report:
    shop = resource("SyncPipeline", "shop", "prod", shop_spec())
    last = {"name": "nightly", "outcome": "repaired", "startedAt": "2026-12-07T09:00:00Z", "repaired": 2}
    shop["status"] = {"itemsSynced": 10, "source": "postgres", "conditions": [], "lastReconciliation": last}
    bare = resource("SyncPipeline", "empty", "prod", shop_spec())
    job = resource("ReconciliationJob", "nightly", "prod", {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"})
    policy = resource("ConflictPolicy", "careful", "prod", {"strategy": "sourceWins"})
    rows = [summary.pipeline_row(item, AT) for item in (shop, bare)]
    return summary.Report(rows, [summary.job_row(job, AT)], [summary.policy_row(policy)])


def status_text(report: summary.Report, wide: bool) -> str:
    return summary.render(report, all_namespaces=False, wide=wide)


def reconcile_summary() -> dict[str, Any]:
    entity = {"entity": "customer", "source": 10, "target": 9, "missing": 1, "extra": 0, "different": 0}
    entity |= {"repaired": 0, "failed": 0, "samples": {"missing": [{"id": 3}]}}
    return {"id": "r", "pipeline": "shop", "action": "report", "outcome": "drift", "error": None, "entities": [entity]}


def invalid_spec() -> list[dict[str, Any]]:
    return [validate_command.pipeline_finding(1, {"name": "shop", "source": {}}).data()]


# Each command: its data as -o json|yaml gives it, and the pure function that renders it for people.
COMMANDS: dict[str, tuple[Callable[[], Any], Callable[[Any, bool], str], Callable[[Any], Any]]] = {
    "dlq list": (letters, deadletter.letters_text, lambda data: data),
    "outbox events": (events, deadletter.events_text, lambda data: data),
    "outbox status": (lambda: {"pending": 3, "failed": 1}, deadletter.counts_text, lambda data: data),
    "conflicts list": (held, conflicts.list_text, lambda data: data),
    "conflicts show": (lambda: held()[0], conflicts.show_text, lambda data: data),
    "history": (runs, history.history_text, lambda data: data),
    "checkpoints": (
        lambda: [Position("slot", "graphsync_shop", {"confirmed": "0/16"}, "in use").summary()],
        checkpoints.positions_text,
        lambda data: data,
    ),
    "schema": (
        lambda: {"customer": ["column email added"]},
        lambda data, _wide: schema.changes_text(data, accepted=False),
        lambda data: data,
    ),
    "run": (lambda: RunStats(started_at=0.0, read=5, created=5).summary(), progress.summary_text, lambda data: data),
    "reconcile": (reconcile_summary, reconcile.report_text, lambda data: data),
    "cleanup": (lambda: CleanupReport("shop", tombstones=3).summary(), cleanup.report_text, lambda data: data),
    "status": (status_report, status_text, lambda report: report.data()),
    "version": (lambda: version.report([]), lambda data, _wide: version.text(data), lambda data: data),
    "validate": (invalid_spec, validate_command.findings_text, lambda data: data),
}


def keys_and_values(data: Any) -> tuple[list[str], list[Any]]:
    """Every key and every leaf value of a document, however deep."""
    keys: list[str] = []
    values: list[Any] = []
    if isinstance(data, dict):
        for key, value in data.items():
            keys.append(key)
            more, leaves = keys_and_values(value)
            keys += more
            values += leaves
    elif isinstance(data, list):
        for item in data:
            more, leaves = keys_and_values(item)
            keys += more
            values += leaves
    else:
        values.append(data)
    return keys, values


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("form", ["json", "yaml"])
def test_machine_output_is_camel_case_with_null_for_the_unknown(name: str, form: str) -> None:
    make, text, data_of = COMMANDS[name]
    data = data_of(make())
    shown = output.render(data, form, text)
    parsed = json.loads(shown) if form == "json" else yaml.safe_load(shown)
    assert parsed == json.loads(json.dumps(data, default=str))
    keys, values = keys_and_values(parsed)
    # Samples are keyed by what differs (missing, extra, ...), stored properties by their own names: all camelCase
    # in these fixtures, as every key the commands themselves choose must be.
    assert all(CAMEL.match(key) for key in keys), [key for key in keys if not CAMEL.match(key)]
    assert output.EMPTY not in values


@pytest.mark.parametrize("name", COMMANDS)
def test_the_table_is_for_people_and_wide_shows_at_least_as_much(name: str) -> None:
    make, text, _ = COMMANDS[name]
    made = make()
    narrow, wide = output.render(made, None, text), output.render(made, "wide", text)
    assert narrow
    assert wide
    assert len(wide.splitlines()[0]) >= len(narrow.splitlines()[0])
    assert not narrow.lstrip().startswith(("{", "["))


def test_dead_letters_are_a_table_wide_adds_attempts_when_and_where() -> None:
    narrow = deadletter.letters_text(letters(), False).splitlines()
    assert narrow[0].split() == ["ID", "ENTITY", "KEY", "VERSION", "OPERATION", "REPLAYED", "REASON"]
    assert narrow[1].split() == ["7", "customer", "42", "9", "upsert", "-", "bad", "email"]
    assert narrow[2].split()[:7] == ["8", "orders", '"A-1"', "10", "delete", "2026-12-07", "09:30"]
    wide = deadletter.letters_text(letters(), True).splitlines()
    assert wide[0].split()[6:9] == ["ATTEMPTS", "FAILED", "ORIGIN"]
    assert letters()[1]["origin"] is None  # the table's "-" is null in the data
    assert deadletter.letters_text([], False) == "no dead letters"


def test_a_status_row_says_null_where_its_table_says_dash() -> None:
    report = status_report()
    data = report.data()["syncPipelines"][1]
    assert (data["phase"], data["workers"], data["lastReconciliation"]) == (None, None, None)
    assert data["lagSeconds"] is None
    table = status_text(report, False).splitlines()
    assert table[2].split()[:3] == ["empty", "Unknown", "-"] or table[3].split()[:3] == ["empty", "Unknown", "-"]
    wide = status_text(report, True).splitlines()
    assert wide[1].split()[-5:] == ["SOURCE", "TARGET", "CHECKPOINT", "LAST", "SYNC"]


def test_a_run_is_words_in_the_table_and_the_record_itself_in_the_data() -> None:
    report = status_report()
    assert report.pipelines[0].last_reconciliation == "repaired 30m ago (nightly)"
    run = report.data()["syncPipelines"][0]["lastReconciliation"]
    assert (run["outcome"], run["startedAt"], run["repaired"]) == ("repaired", "2026-12-07T09:00:00Z", 2)
    assert "lastReconciliationRun" not in report.data()["syncPipelines"][0]
    assert report.data()["reconciliationJobs"][0]["lastRun"] is None


def test_an_invalid_spec_names_each_field_at_fault() -> None:
    [finding] = invalid_spec()
    assert finding["valid"] is False
    assert any(error.startswith("target:") for error in finding["errors"])
    text = validate_command.findings_text([finding], False).splitlines()
    assert text[0] == "pipeline shop: invalid"
    assert any(line.startswith("  target:") for line in text[1:])


def test_the_older_json_flag_is_minus_o_json() -> None:
    parser = argparse.ArgumentParser()
    output.add_option(parser)
    assert parser.parse_args(["--json"]).output == "json"
    assert parser.parse_args(["-o", "wide"]).output == "wide"
    assert parser.parse_args([]).output is None
    # Every command takes the same three, wide too where its table has nothing more to show.
    narrow = argparse.ArgumentParser()
    output.add_option(narrow, wide=False)
    assert narrow.parse_args(["-o", "wide"]).output == "wide"


def test_keys_become_camel_case_one_level_only() -> None:
    assert output.camel("detected_at") == "detectedAt"
    assert output.camel_keys({"resolved_by": 1, "source": {"first_name": "a"}}) == {
        "resolvedBy": 1,
        "source": {"first_name": "a"},  # a stored property keeps its name
    }

"""Run history records and how they are shown (no servers): what a record holds, when a running one is lost,
how a run's end is named, and both kinds of run in one list."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from graphsync import history
from graphsync.commands.history import combined, history_text
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats

STARTED = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
RUN = history.Run(pipeline="shop.sync", mode="continuous", host="shop-sync-7d9f", started=STARTED, id="abc")


def test_a_record_holds_the_runs_counts_and_says_when_it_ended() -> None:
    summary = {"read": 12, "synced": 10, "created": 4, "updated": 6, "failed": 2, "retries": 1, "errors": ["x"]}
    running = history.record_of(RUN, STARTED + timedelta(seconds=30), summary, history.Outcome.RUNNING)
    assert running["startedAt"] == "2026-12-06T10:00:00.000+00:00"
    assert running["updatedAt"] == "2026-12-06T10:00:30.000+00:00"
    assert running["finishedAt"] is None
    assert (running["synced"], running["failed"], running["deleted"]) == (10, 2, 0)
    assert "errors" not in running
    ended = history.record_of(RUN, STARTED + timedelta(minutes=5), {}, history.Outcome.FAILED, "OSError: full")
    assert (ended["outcome"], ended["error"]) == ("failed", "OSError: full")
    assert ended["finishedAt"] == "2026-12-06T10:05:00.000+00:00"
    assert ended["synced"] == 0


def test_a_running_record_not_renewed_for_three_periods_reads_as_lost() -> None:
    record = history.record_of(RUN, STARTED, {}, history.Outcome.RUNNING)
    period = history.RECORD_SECONDS
    assert history.shown(record, STARTED + timedelta(seconds=period * 3))["outcome"] == "running"
    lost = history.shown(record, STARTED + timedelta(seconds=period * 3 + 1))
    assert lost["outcome"] == "lost"
    assert "since 2026-12-06T10:00:00.000+00:00" in lost["error"]
    ended = history.record_of(RUN, STARTED, {}, history.Outcome.STOPPED)
    assert history.shown(ended, STARTED + timedelta(days=9))["outcome"] == "stopped"


def test_a_runs_end_is_named_by_what_ended_it() -> None:
    control = RunControl(stop=threading.Event())
    assert history.outcome_of(control, None) is history.Outcome.COMPLETED
    assert history.outcome_of(control, OSError("full")) is history.Outcome.FAILED
    control.stop.set()
    assert history.outcome_of(control, None) is history.Outcome.STOPPED


def test_sync_runs_and_reconciliations_are_listed_together_newest_first() -> None:
    syncs: list[dict[str, Any]] = [
        {"startedAt": "2026-12-06T10:05:00", "mode": "snapshot", "outcome": "completed", "synced": 1200},
        {"startedAt": "2026-12-06T09:00:00", "mode": "snapshot", "outcome": "failed", "error": "OSError: full"},
    ]
    checks: list[dict[str, Any]] = [
        {"startedAt": "2026-12-06T09:30:00", "action": "repair", "outcome": "repaired", "repaired": 3}
    ]
    runs = combined(syncs, checks, limit=10)
    assert [(r["kind"], r["outcome"]) for r in runs] == [
        ("sync", "completed"),
        ("reconcile", "repaired"),
        ("sync", "failed"),
    ]
    assert [r["kind"] for r in combined(syncs, checks, limit=2)] == ["sync", "reconcile"]
    text = history_text(runs).splitlines()
    assert "synced 1,200, failed 0, retries 0" in text[1]
    assert "repair" in text[2]
    assert "repaired 3" in text[2]
    assert text[4] == "  error: OSError: full"
    assert history_text([]) == "no runs recorded yet"


class FlakyStore:
    """Refuses its first `failures` writes (the target down), then keeps what it is given."""

    opened = 0
    closed = 0

    def __init__(self, failures: list[int], written: list[dict[str, Any]]) -> None:
        FlakyStore.opened += 1
        self.failures = failures
        self.written = written

    def write(self, query: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        if self.failures[0] > 0:
            self.failures[0] -= 1
            raise ConnectionError("target down")
        if params and "run" in params:
            self.written.append(dict(params["run"]))
        return []

    def close(self) -> None:
        FlakyStore.closed += 1


def test_the_recorder_waits_out_a_target_that_refuses_and_closes_what_failed() -> None:
    failures: list[int] = [3]
    written: list[dict[str, Any]] = []

    def open_store(stack: ExitStack) -> Any:
        store = FlakyStore(failures, written)
        stack.callback(store.close)
        return store

    recorder = history.Recorder(RUN, open_store, period=0.01)
    recorder.start()
    stats = RunStats(created=5)
    deadline = time.monotonic() + 5
    while not written and time.monotonic() < deadline:
        time.sleep(0.01)
    # The three refused connections are closed at once, not kept until the run ends.
    assert (FlakyStore.opened, FlakyStore.closed) == (4, 3)
    recorder.finish(stats, history.Outcome.STOPPED)
    assert [record["outcome"] for record in written][-1] == "stopped"
    assert written[-1]["synced"] == 5
    assert {record["outcome"] for record in written[:-1]} == {"running"}
    # Each refused write closed its connection; the one that worked was closed at the end.
    assert FlakyStore.opened == 4
    assert FlakyStore.closed == 4

"""An idle run asks the target whether it answers, and a run that pauses on purpose is not stuck."""

from __future__ import annotations

import threading
import time
from functools import partial

import neo4j.exceptions

from graphsync.connectors.neo4j.sink import transient as neo4j_transient
from graphsync.runner.contracts import Batch
from graphsync.runner.control import RunControl
from graphsync.runner.loop import Runner, RunOptions
from graphsync.runner.retry import Backoff
from graphsync.runner.stats import RunStats
from tests import conftest
from tests.unit.test_runner import Flaky, ListSource, MemoryDeadLetters, MemorySink, changes


class GatedSink(MemorySink):
    """A target that refuses every call while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if self.down.is_set():
            raise Flaky("target unreachable")


eventually = partial(conftest.eventually, timeout=10, every=0.01)


def streaming(sink: GatedSink, probe_seconds: float) -> tuple[Runner, threading.Event, threading.Thread]:
    source = ListSource(changes(5), 10)
    source.log = sink.log
    options = RunOptions(
        batch_size=10,
        idle_wait=0.005,
        probe_seconds=probe_seconds,
        backoff=Backoff(initial=0.001, maximum=0.01),
    )
    runner = Runner(source, sink, MemoryDeadLetters(), options)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    return runner, stop, thread


def test_an_idle_run_pings_the_target_and_an_outage_shows_as_retries_until_it_answers() -> None:
    sink = GatedSink()
    runner, stop, thread = streaming(sink, probe_seconds=0.05)
    try:
        eventually(lambda: sink.pings >= 2 and runner.stats.caught_up, "pings of an idle, healthy target")
        assert runner.stats.retries == 0
        sink.down.set()
        eventually(lambda: runner.stats.retries >= 3, "retries of the refused ping")
        # Whatever the source holds, a run that cannot reach its target is not caught up.
        assert not runner.stats.caught_up
        assert "target: retry" in runner.stats.errors[-1]
        retried_at = runner.stats.last_retry_at
        assert retried_at is not None
        sink.down.clear()
        eventually(
            lambda: runner.stats.caught_up and (runner.stats.caught_up_at or 0) > (runner.stats.last_retry_at or 0),
            "caught up again once the target answers",
        )
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    # The changes were applied once each; probes wrote nothing.
    assert sink.state == dict.fromkeys(range(5), 1)
    assert sink.log.count("apply 5") == 1


def test_pings_wait_for_the_probe_interval_and_a_finite_run_never_pings() -> None:
    sink = GatedSink()
    runner, stop, thread = streaming(sink, probe_seconds=60)
    eventually(lambda: runner.stats.caught_up, "caught up")
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=5)
    assert sink.pings == 0
    finite = GatedSink()
    source = ListSource(changes(5), 10)
    source.log = finite.log
    options = RunOptions(batch_size=10, until_idle=True, probe_seconds=0.001)
    Runner(source, finite, MemoryDeadLetters(), options).run(threading.Event())
    assert finite.pings == 0


def test_a_pause_between_polls_keeps_the_run_alive_and_ends_on_stop() -> None:
    stats = RunStats()
    control = RunControl(stop=threading.Event())
    started = time.time()
    control.pause(0.05, stats)
    assert stats.alive_at is not None
    assert stats.alive_at >= started
    control.stop.set()
    before = time.monotonic()
    control.pause(3600, stats)
    assert time.monotonic() - before < 1


def test_an_idle_batch_is_never_a_probe() -> None:
    assert Batch([]).idle
    assert not Batch([], probe=True).idle


class HangingSink(GatedSink):
    """A target whose ping never answers until released, as behind a half-open connection."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hanging = threading.Event()

    def ping(self) -> None:
        super().ping()
        if self.hang.is_set():
            self.hanging.set()
            self.release.wait()


def test_a_writer_blocked_in_a_call_leaves_the_run_looking_stuck_however_busy_its_reader_is() -> None:
    sink = HangingSink()
    runner, stop, thread = streaming(sink, probe_seconds=0.02)
    try:
        eventually(lambda: sink.pings >= 1, "a first ping")
        sink.hang.set()
        eventually(sink.hanging.is_set, "a ping that hangs")
        hung_at = time.time()
        time.sleep(0.5)
        alive_at = runner.stats.alive_at
        assert alive_at is not None
        assert alive_at <= hung_at
        sink.release.set()
        eventually(lambda: (runner.stats.alive_at or 0) > hung_at + 0.5, "alive again once the call came back")
    finally:
        sink.release.set()
        stop.set()
        thread.join(timeout=5)
    # A run that ended has no loop left to watch.
    assert runner.stats.alive_at is None


class SlowToReturnNeo4j(GatedSink):
    """A Neo4j coming back slowly: the driver finds no connection within its pool's deadline (an error it does
    not retry itself), classified as the real Neo4j sink does."""

    def ping(self) -> None:
        self.pings += 1
        if self.down.is_set():
            raise neo4j.exceptions.ConnectionAcquisitionTimeoutError("failed to obtain a connection within 60.0s")

    def is_transient(self, error: BaseException) -> bool:
        return neo4j_transient(error)


def test_a_probe_that_finds_no_connection_in_time_is_retried_and_the_run_goes_on() -> None:
    sink = SlowToReturnNeo4j()
    sink.down.set()
    runner, stop, thread = streaming(sink, probe_seconds=0.05)
    try:
        eventually(lambda: runner.stats.retries >= 2, "retries of the probe")
        assert thread.is_alive(), "the run ended on a target slow to come back"
        sink.down.clear()
        eventually(lambda: runner.stats.caught_up, "caught up once the target answers")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert sink.state == dict.fromkeys(range(5), 1)

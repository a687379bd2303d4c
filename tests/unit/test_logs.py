"""Log lines with context: JSON or text, one line per event, and a correlation id per batch the runner applies."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator, Sequence

import pytest

from graphsync import cli, logs
from graphsync.change import ApplyResult, Change
from graphsync.runner.loop import Runner
from graphsync_operator.api.pods import LogLevel
from tests.unit.test_runner import FAST, ListSource, MemoryDeadLetters, MemorySink, changes


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """A handler as `logs.configure` makes it, into a buffer; process fields start empty."""
    monkeypatch.setattr(logs, "_process", {})
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield handler, out
    root.removeHandler(handler)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_holds_time_level_logger_message_and_the_context(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, out = captured
    handler.setFormatter(logs.JsonLines())
    logs.bind(pipeline="shop", pod="shop-worker-1")
    with logs.scope(correlation_id="abc"):
        logging.getLogger("graphsync.runner").warning("target: retrying: %s", "refused\nagain")
    logging.getLogger("graphsync.runner").info("after")
    first, second = lines(out)
    assert set(first) == {"time", "level", "logger", "message", "pipeline", "pod", "correlation_id"}
    assert first["level"] == "WARNING"
    assert first["logger"] == "graphsync.runner"
    assert first["message"] == "target: retrying: refused\nagain"
    assert (first["pipeline"], first["pod"], first["correlation_id"]) == ("shop", "shop-worker-1", "abc")
    assert str(first["time"]).endswith("+00:00")
    assert "correlation_id" not in second
    assert len(out.getvalue().splitlines()) == 2


def test_a_traceback_stays_in_its_line(captured: tuple[logging.Handler, io.StringIO]) -> None:
    handler, out = captured
    handler.setFormatter(logs.JsonLines())
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("w").exception("the run failed")
    (line,) = lines(out)
    assert "ValueError: bad row" in str(line["exception"])


def test_a_text_line_is_one_line_with_the_context_after_it(captured: tuple[logging.Handler, io.StringIO]) -> None:
    handler, out = captured
    handler.setFormatter(logs.OneLine("%(levelname)s %(message)s"))
    with logs.scope(kind="SyncPipeline", namespace="shop", name="orders", correlation_id="c1"):
        logging.getLogger("op").warning("not rendered:\nmissing")
    assert out.getvalue() == (
        "WARNING not rendered:\\nmissing [kind=SyncPipeline namespace=shop name=orders correlation_id=c1]\n"
    )


def test_scopes_nest_and_end() -> None:
    with logs.scope(correlation_id="outer", kind="SyncPipeline"):
        with logs.scope(correlation_id="inner"):
            assert logs.current()["correlation_id"] == "inner"
            assert logs.current()["kind"] == "SyncPipeline"
        assert logs.current()["correlation_id"] == "outer"
    assert "correlation_id" not in logs.current()
    assert len({logs.new_id() for _ in range(100)}) == 100


def test_the_format_is_text_unless_told_and_a_wrong_one_is_named() -> None:
    assert logs.choose(None) == "text"
    assert logs.choose("JSON") == "json"
    with pytest.raises(ValueError, match=r"GRAPHSYNC_LOG_FORMAT: 'yaml' is not a log format: choose one of text, json"):
        logs.choose("yaml")


def test_the_level_is_info_unless_told_and_a_wrong_one_is_named() -> None:
    assert logs.level_of(None) == logging.INFO
    assert logs.level_of(" Debug ") == logging.DEBUG
    assert logs.level_of("error") == logging.ERROR
    with pytest.raises(ValueError, match=r"GRAPHSYNC_LOG_LEVEL: 'loud' is not a log level: choose one of error, "):
        logs.level_of("loud")
    with pytest.raises(ValueError, match=r"--log-level: 'trace'"):
        logs.level_of("trace", source="--log-level")
    # The spec's choices are the levels the worker knows.
    assert [level.value for level in LogLevel] == list(logs.LEVELS)


class TalkingSink(MemorySink):
    """Logs while it applies, as a driver would: its lines belong to the batch."""

    def apply(self, changes: Sequence[Change], staged: object = None) -> ApplyResult:
        logging.getLogger("sink").info("applying %d", len(changes))
        return super().apply(changes, staged)


def test_every_line_of_a_batch_carries_that_batch_s_correlation_id(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, out = captured
    handler.setFormatter(logs.JsonLines())
    source, sink = ListSource(changes(25), 10), TalkingSink(outages=2)
    source.log = sink.log
    runner = Runner(source, sink, MemoryDeadLetters(), FAST)
    runner.run(threading.Event())
    found = [line for line in lines(out) if line["logger"] in ("sink", "graphsync.runner.loop")]
    # Two retries of the first batch, then one apply line per batch: all with an id, one id per batch.
    assert all("correlation_id" in line for line in found), found
    ids = [line["correlation_id"] for line in found]
    first = ids[0]
    assert ids[:3] == [first] * 3
    assert [line["message"] for line in found if line["logger"] == "sink"] == [
        "applying 10",
        "applying 10",
        "applying 10",
        "applying 10",
        "applying 5",
    ]
    assert len(set(ids)) == 3
    assert runner.stats.retries_by == {"target": 2}
    assert runner.stats.batch_seconds.count == 3


def test_graphsync_run_takes_a_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.parser()
    assert parser.parse_args(["run", "-f", "p.yaml"]).log_level == "warning"
    assert parser.parse_args(["run", "-f", "p.yaml", "--log-level", "debug"]).log_level == "debug"
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["run", "-f", "p.yaml", "--log-level", "loud"])
    assert refused.value.code == 2
    assert "--log-level: invalid choice: 'loud'" in capsys.readouterr().err

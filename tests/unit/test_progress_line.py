"""The live progress line of `graphsync run` (no servers): it fits the terminal, whatever its width, and a
shorter line leaves nothing of a longer one."""

from __future__ import annotations

import io
import os
import shutil

import pytest

from graphsync.commands import progress
from graphsync.runner.stats import FileProgress, RunStats


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def busy() -> RunStats:
    stats = RunStats(started_at=0.0, read=123_456_789, created=98_765_432, updated=12_345_678, deleted=1_234_567)
    stats.failed, stats.retries = 4_321, 87
    return stats


@pytest.mark.parametrize("width", [40, 80, 120])
def test_the_line_fits_the_terminal(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback: os.terminal_size((width, 24)))
    files = RunStats(started_at=0.0, files=FileProgress(total=120_000, succeeded=99_000, current={"a/" * 60 + "x.md"}))
    for stats in (busy(), files):
        out = Terminal()
        progress.Progress(out, interval=0)(stats)
        drawn = out.getvalue()
        assert drawn.startswith("\r")
        assert drawn.endswith("\x1b[K")  # what a longer line before left is erased
        assert len(drawn[1 : -len("\x1b[K")]) <= width - 1


def test_the_most_useful_counts_come_first_and_a_cut_line_says_so() -> None:
    line = progress.line_of(busy(), now=100.0)
    assert line.startswith("synced 112,345,677  failed 4,321  1,234,568/s")
    cut = progress.fitted(line, 40)
    assert len(cut) == 39
    assert cut.endswith("…")
    assert progress.fitted("short", 80) == "short"


def test_nothing_is_drawn_off_a_terminal() -> None:
    out = io.StringIO()
    progress.Progress(out, interval=0)(busy())
    assert out.getvalue() == ""

"""Pure pieces of the substrate: cache keys, state, names and exported settings."""

from __future__ import annotations

import io
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from graphsync_dev import build, process, substrate
from graphsync_dev.redis import module_version
from graphsync_dev.service import Service


def test_recipe_key_changes_with_the_recipe_and_the_version(tmp_path: Path) -> None:
    mod = tmp_path / "go.mod"
    mod.write_text("module a\n")
    first = build.recipe_key("v1", [mod])
    assert build.recipe_key("v1", [mod]) == first
    assert build.recipe_key("v2", [mod]) != first
    mod.write_text("module b\n")
    assert build.recipe_key("v1", [mod]) != first
    assert first.startswith("v1-")


def test_cached_build_runs_once_and_never_leaves_a_partial_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE", str(tmp_path))
    calls: list[Path] = []

    def failing(folder: Path) -> None:
        (folder / "half").write_text("x")
        raise process.SubstrateError("compiler crashed")

    with pytest.raises(process.SubstrateError, match="compiler crashed"):
        build.cached_build("tool", "k1", failing)
    assert not (tmp_path / "tool" / "k1").exists()

    def working(folder: Path) -> None:
        calls.append(folder)
        (folder / "bin").write_text("ok")

    first = build.cached_build("tool", "k1", working)
    second = build.cached_build("tool", "k1", working)
    assert first == second == tmp_path / "tool" / "k1"
    assert (first / "bin").read_text() == "ok"
    assert len(calls) == 1


def test_a_build_says_what_it_builds_how_long_it_should_take_and_how_far_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "TICK_SECONDS", 0.05)
    out = io.StringIO()
    build.cached_build("k8s", "v1", lambda folder: time.sleep(0.2), out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "building k8s (once, then cached; expect about 7m00s)"
    assert lines[1].startswith("building k8s: 0s so far, about 7m00s left")
    assert lines[-1] == "built k8s in 0s"
    # The next build of it on this machine expects what this one took.
    out = io.StringIO()
    build.cached_build("k8s", "v2", lambda folder: None, out=out)
    assert out.getvalue().splitlines()[0] == "building k8s (once, then cached; expect about 0s)"
    assert build.cached_build("k8s", "v2", lambda folder: None, out=out) == tmp_path / "k8s" / "v2"


def test_progress_lines_say_the_time_so_far_and_what_is_left() -> None:
    assert build.duration(42.4) == "42s"
    assert build.duration(185) == "3m05s"
    assert build.progress_line("helm", 90, 150) == "building helm: 1m30s so far, about 1m00s left"
    assert build.progress_line("helm", 200, 150).endswith(
        "longer than the usual 2m30s (a busy machine or a slow network): still going"
    )
    assert build.progress_line("tool", 30, None) == "building tool: 30s so far"
    assert build.starting_line("neo4j", 120) == "building neo4j (once, then cached; expect about 2m00s)"
    assert build.starting_line("tool", None) == "building tool (once, then cached; no estimate yet)"


def test_service_round_trips_through_the_state_file(tmp_path: Path) -> None:
    service = Service(name="postgres", pids=(11, 12), env={"GRAPHSYNC_PG_PORT": "5432"}, logs=("/x.log",))
    substrate.save_state(tmp_path, [service])
    assert substrate.load_state(tmp_path) == [service]
    assert (tmp_path / substrate.STATE_FILE).stat().st_mode & 0o077 == 0


def test_resolve_names_keeps_registry_order_and_names_unknown_servers() -> None:
    assert substrate.resolve_names(["neo4j", " postgres", ""]) == ["postgres", "neo4j"]
    assert substrate.resolve_names([]) == list(substrate.SERVERS)
    with pytest.raises(process.SubstrateError, match="unknown server\\(s\\) mongo; choose from postgres"):
        substrate.resolve_names(["mongo"])


def test_export_lines_are_safe_for_the_shell() -> None:
    lines = substrate.export_lines({"B": "plain", "A": "it's; rm -rf /"})
    assert lines[0] == "export A=" + shlex.quote("it's; rm -rf /")
    out = subprocess.run(
        ["sh", "-c", "; ".join(lines) + '; printf %s "$A"'], capture_output=True, text=True, check=True
    )
    assert out.stdout == "it's; rm -rf /"


def test_merged_env_combines_every_service() -> None:
    services = [Service("a", (1,), {"X": "1"}), Service("b", (2,), {"Y": "2"})]
    assert substrate.merged_env(services) == {"X": "1", "Y": "2"}


def test_module_version_decodes_the_redis_module_integer() -> None:
    assert module_version(41603) == "4.16.3"


def test_wait_ready_fails_with_the_log_tail_when_the_server_exits(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    spec = process.ProcessSpec(name="broken", argv=["sh", "-c", "echo 'FATAL: bad config'; exit 3"], log_path=log)
    proc = process.start(spec)
    with pytest.raises(process.SubstrateError, match=r"broken exited with code 3(.|\n)*FATAL: bad config"):
        process.wait_ready(spec, proc, lambda: False, timeout=10)


def test_wait_ready_times_out_and_stops_the_process(tmp_path: Path) -> None:
    spec = process.ProcessSpec(name="slow", argv=["sleep", "30"], log_path=tmp_path / "slow.log")
    proc = process.start(spec)
    with pytest.raises(process.SubstrateError, match="slow was not ready after 1s"):
        process.wait_ready(spec, proc, lambda: False, timeout=1)
    assert proc.wait(timeout=5) != 0

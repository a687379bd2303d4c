"""Shared pieces of the benchmarks: a private substrate, a data set, process memory."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import yaml

from graphsync_dev import substrate
from graphsync_dev.service import Service


@contextmanager
def servers(names: Sequence[str]) -> Iterator[dict[str, Service]]:
    """Start the named servers of the substrate for one benchmark run, and stop them after."""
    run_dir = substrate.new_run_dir("graphsync-bench-")
    started = substrate.start_all(list(names), run_dir)
    try:
        yield {service.name: service for service in started}
    finally:
        substrate.stop_all(started)
        shutil.rmtree(run_dir, ignore_errors=True)


def pg_spec_source(pg: Service, schema: str) -> dict[str, Any]:
    env = pg.env
    return {
        "postgres": {
            "url": f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
            "password": {"env": "GRAPHSYNC_PG_PASSWORD"},
            "schema": schema,
        }
    }


def run_cli(
    spec: dict[str, Any],
    workdir: Path,
    env: dict[str, str],
    *args: str,
    command: str = "run",
    codes: tuple[int, ...] = (0,),
) -> tuple[float, int, str]:
    """Run `graphsync <command> -f spec --json` in a child process; returns (seconds, peak RSS in KiB, stdout)."""
    path = workdir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return run_child(["-m", "graphsync.cli", command, "-f", str(path), "--json", *args], env, codes=codes)


def run_child(argv: list[str], env: dict[str, str], *, codes: tuple[int, ...] = (0,)) -> tuple[float, int, str]:
    """Run `python <argv>` in a child process; returns (seconds, peak RSS in KiB, stdout).

    The peak is the child's own `VmHWM`, sampled until it exits: Linux carries the
    parent's peak into a child's `ru_maxrss` across fork and exec, so a benchmark
    process holding a large data set would otherwise inflate it.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    peaks: list[int] = []
    sampler = threading.Thread(target=_sample_peak, args=(child, peaks), daemon=True)
    sampler.start()
    out_bytes, err_bytes = child.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if child.returncode not in codes:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{err_bytes.decode()[-3000:]}")
    return seconds, max(peaks, default=0), out_bytes.decode()


def _sample_peak(child: subprocess.Popen[bytes], peaks: list[int]) -> None:
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.05)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def self_peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def connect(pg: Service) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.env["GRAPHSYNC_PG_DSN"], autocommit=True)

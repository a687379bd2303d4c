"""bench.operator's operator process: started with default settings, its memory and CPU sampled from /proc.

Also the CPU of the control plane and of the whole machine, and its load average: on a
small machine the benchmark competes with whatever else runs, and the results say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.operator_cluster import NAMESPACE
from graphsync_dev import process

VENV_BIN = Path(__file__).parents[1] / ".venv" / "bin"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the operator process and its resources -------------------------------------------------


@dataclass
class Sample:
    at: float  # time.time()
    rss_kib: int
    hwm_kib: int
    cpu_seconds: float


@dataclass
class Operator:
    child: subprocess.Popen[bytes]
    log: Path
    samples: list[Sample] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, kubeconfig: Path, log: Path) -> Operator:
        # Default settings: none of the operator's GRAPHSYNC_* variables from this shell reach it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHSYNC_", "KUBE"))}
        env |= {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        argv = [str(VENV_BIN / "graphsync-operator"), "run", "-n", NAMESPACE]
        argv += ["--liveness", f"http://127.0.0.1:{process.free_port()}/healthz"]
        with log.open("ab") as out:
            child = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        running = cls(child, log)
        threading.Thread(target=running._sample, daemon=True).start()
        return running

    def _sample(self) -> None:
        while not self.stopping.is_set() and self.child.poll() is None:
            found = proc_sample(self.child.pid)
            if found is not None:
                self.samples.append(found)
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.child.poll() is None

    def stop(self) -> None:
        last = proc_sample(self.child.pid)
        if last is not None:
            self.samples.append(last)
        self.stopping.set()
        if self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait(timeout=10)


def proc_sample(pid: int) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return Sample(time.time(), values.get("VmRSS", 0), values.get("VmHWM", 0), cpu)


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        found = proc_sample(pid)
        total += found.cpu_seconds if found else 0.0
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def loadavg() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]

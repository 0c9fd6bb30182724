"""Demo benchmark: how busy ``nas demo`` keeps the CPUs it has (goal: >= 85 % of the available CPU during the search).

Runs the real ``nas demo`` (its own throwaway data dir, in-process Ray, real training on digits) as a subprocess and
samples, every ``--interval`` seconds, the CPU time of its whole process tree from ``/proc`` (the demo, Ray's GCS and
raylet, every Ray worker). The CPU a process used is the last value seen for it, so a process that ends between two
samples loses at most one interval. Phases come from the demo's own output, timestamped as it is read:

* **start-up**: from launch to the line announcing the submitted job;
* **search**: from there to the Pareto table (every trial trained and measured);
* **whole run**: launch to exit.

Share busy = CPU seconds of the tree in the phase / (phase wall seconds x cores), the cores being the ones this
process may run on (``sched_getaffinity``), capped by the demo's concurrency: the goal's measure on an idle machine.
On a machine shared with other work that share drops by whatever the others take, so a second measure is printed:
share of the *available* CPU = the demo's CPU / (the demo's CPU + the machine's idle CPU in the phase, from
``/proc/stat``): what the demo left unused while it could have run. ``--json`` also reports ``load_before``.

Run: ``python -m benchmarks.demo_bench [--trials 10] [--epochs 2] [--repeats 1] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _machine_idle() -> float:
    """Idle CPU seconds of the whole machine since boot (idle + iowait, every core)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / _TICK


def _cpu_of(pid: int) -> tuple[str, float] | None:
    """``(identity, CPU seconds)`` of a live process: identity is pid + start time (pids are reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, start = int(fields[11]), int(fields[12]), fields[19]
    return f"{pid}:{start}", (utime + stime) / _TICK


class TreeSampler:
    """Samples the CPU time of a process and all its descendants until stopped."""

    def __init__(self, root: int, interval: float) -> None:
        self.root, self.interval = root, interval
        self.last: dict[str, float] = {}
        self.timeline: list[tuple[float, float, float]] = []  # (monotonic time, tree CPU s so far, machine idle s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _children()
            todo, seen = [self.root], set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                todo.extend(tree.get(pid, []))
                got = _cpu_of(pid)
                if got is not None:
                    self.last[got[0]] = got[1]
            self.timeline.append((time.monotonic(), sum(self.last.values()), _machine_idle()))
            self._stop.wait(self.interval)

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """Tree CPU seconds and machine idle seconds between two monotonic times (nearest samples)."""

        def at(t: float) -> tuple[float, float]:
            before = [(cpu, idle) for when, cpu, idle in self.timeline if when <= t]
            return before[-1] if before else (0.0, self.timeline[0][2])

        (c0, i0), (c1, i1) = at(t0), at(t1)
        return c1 - c0, i1 - i0


def run_once(trials: int, epochs: int, concurrency: int, interval: float) -> dict[str, Any]:
    """One ``nas demo`` run in a fresh data dir; the phases' wall time, CPU time and share busy."""
    data_dir = Path(tempfile.mkdtemp(prefix="nas-demo-bench-"))
    env = {**os.environ, "NAS_DATA_DIR": str(data_dir), "RAY_USAGE_STATS_ENABLED": "0", "COLUMNS": "200"}
    env.setdefault("RAY_AUTH_MODE", "disabled")
    cmd = [sys.executable, "-m", "nas_service.cli.main", "demo", "--trials", str(trials), "--epochs", str(epochs)]
    cmd += ["--concurrency", str(concurrency)]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    sampler = TreeSampler(proc.pid, interval).start()
    submitted = front = None
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        now = time.monotonic()
        if submitted is None and line.lstrip().startswith("job ") and " trials of the digits space" in line:
            submitted = now
        if front is None and "Pareto front" in line:
            front = now
    code = proc.wait()
    ended = time.monotonic()
    time.sleep(interval)
    sampler.stop()
    if code != 0 or submitted is None or front is None:
        raise RuntimeError(f"nas demo failed (exit {code}):\n{''.join(lines[-30:])}")
    cores = min(concurrency, len(os.sched_getaffinity(0)))

    def phase(t0: float, t1: float) -> dict[str, float]:
        cpu, idle = sampler.between(t0, t1)
        return {
            "wall_s": round(t1 - t0, 2),
            "cpu_s": round(cpu, 2),
            "idle_s": round(idle, 2),
            "busy": round(cpu / ((t1 - t0) * cores), 4),
            "busy_of_available": round(cpu / (cpu + idle), 4) if cpu + idle > 0 else 0.0,
        }

    return {
        "cores": cores,
        "load_before": round(load_before, 2),
        "startup": phase(started, submitted),
        "search": phase(submitted, front),
        "whole": phase(started, ended),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs = [run_once(args.trials, args.epochs, args.concurrency, args.interval) for _ in range(args.repeats)]
    summary = {
        f"{name}_{key}": round(statistics.median(r[name][key] for r in runs), 4)
        for name in ("startup", "search", "whole")
        for key in ("busy", "busy_of_available")
    }
    if args.json:
        print(json.dumps({"runs": runs, "median_busy": summary, "goal_search_busy": 0.85}, indent=2))
        return 0
    print(f"nas demo --trials {args.trials} --epochs {args.epochs} on {runs[0]['cores']} core(s), {len(runs)} run(s)")
    print("busy = share of the cores; avail = share of the CPU the rest of the machine left idle")
    print(f"{'run':>3}  {'load':>5}  {'start-up s':>10}  {'busy':>6}  {'avail':>6}  {'search s':>8}  {'busy':>6}  "
          f"{'avail':>6}  {'total s':>7}  {'busy':>6}  avail")  # fmt: skip
    for i, r in enumerate(runs, 1):
        cells = [f"{i:>3}", f"{r['load_before']:>5.2f}"]
        for name, width in (("startup", 10), ("search", 8), ("whole", 7)):
            p = r[name]
            cells += [f"{p['wall_s']:>{width}.1f}", f"{p['busy']:>6.1%}", f"{p['busy_of_available']:>6.1%}"]
        print("  ".join(cells))
    print(
        f"median: search {summary['search_busy']:.1%} of the cores (goal >= 85% on an idle machine), "
        f"{summary['search_busy_of_available']:.1%} of the available CPU; whole run {summary['whole_busy']:.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Interference-free measurement: an exclusive per-node measurement slot at normal priority.

Design (the README's "Latency measurement" section says the same):

* **One measurement at a time per node.** :func:`measurement_slot` takes an exclusive ``flock`` on
  ``<lock dir>/measure.lock`` (``NAS_LATENCY_LOCK_DIR``, default the system temp directory) for the whole
  measurement, so two latency tasks on a node never time each other. The Ray side mirrors it: a measurement
  node advertises its target resource with capacity 1, and a latency task asks for all of it.
* **Training yields while a measurement runs.** The slot also writes ``<lock dir>/measuring`` while held;
  :func:`wait_while_measuring` (called by the training loop between steps) sleeps until it is gone, so on a
  shared node the cores are quiet for the measurement. A dedicated measurement node (one advertising a target
  resource and no training CPUs) needs no pause at all.
* **Normal priority.** Ray starts its workers at nice 15, so a measuring worker would lose the core to any
  other process; inside the slot the process is raised back to the priority it should have (nice 0) when the
  OS allows it (root or ``CAP_SYS_NICE``/``RLIMIT_NICE``), and put back afterwards. When it is not allowed the
  measurement is recorded with ``priority_raised=False`` and its CV (and the re-measure rule) tells whether it
  suffered.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SlotInfo", "lock_dir", "measurement_slot", "wait_while_measuring"]

#: Niceness a measurement runs at (the default priority of a login shell).
MEASURE_NICE = 0
#: A training step waits at most this long for a measurement to end (a crashed holder must not stall it).
MAX_PAUSE_S = 30.0


def _lock_path() -> Path:
    return Path(os.environ.get("NAS_LATENCY_LOCK_DIR") or Path(tempfile.gettempdir()) / "nas-latency")


def lock_dir() -> Path:
    """Where the slot's lock and flag files live (``NAS_LATENCY_LOCK_DIR`` or ``<tmp>/nas-latency``; created)."""
    path = _lock_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class SlotInfo:
    """What the slot achieved: how long it waited and whether the priority was raised."""

    waited_s: float = 0.0
    priority_raised: bool = False
    nice_before: int = 0


@contextlib.contextmanager
def measurement_slot(raise_priority: bool = True) -> Iterator[SlotInfo]:
    """Hold the node's exclusive measurement slot (blocking until it is free), at normal priority.

    Args:
        raise_priority: Raise the process to nice 0 while measuring (when the OS allows it).

    Yields:
        The slot's :class:`SlotInfo`.
    """
    info = SlotInfo()
    folder = lock_dir()
    t0 = time.perf_counter()
    fd = os.open(folder / "measure.lock", os.O_RDWR | os.O_CREAT, 0o666)
    flag = folder / "measuring"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        info.waited_s = time.perf_counter() - t0
        flag.write_text(str(os.getpid()))
        info.nice_before = os.getpriority(os.PRIO_PROCESS, 0)
        if raise_priority and info.nice_before > MEASURE_NICE:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, MEASURE_NICE)
                info.priority_raised = True
            except OSError:  # not permitted: measured at the inherited priority (recorded)
                info.priority_raised = False
        else:
            info.priority_raised = info.nice_before <= MEASURE_NICE
        try:
            yield info
        finally:
            if info.priority_raised and info.nice_before > MEASURE_NICE:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, 0, info.nice_before)
            flag.unlink(missing_ok=True)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def wait_while_measuring(max_wait_s: float = MAX_PAUSE_S, poll_s: float = 0.005) -> float:
    """Sleep while a measurement holds this node's slot (a training loop calls this between steps).

    Args:
        max_wait_s: Give up waiting after this long (a stale flag of a killed holder must not stall training).
        poll_s: How often to look.

    Returns:
        Seconds waited.
    """
    flag = _lock_path() / "measuring"  # no mkdir: called after every training step
    t0 = time.perf_counter()
    while _holder_alive(flag) and time.perf_counter() - t0 < max_wait_s:
        time.sleep(poll_s)
    return time.perf_counter() - t0


def _holder_alive(flag: Path) -> bool:
    """Whether ``flag`` names a live measuring process (a killed holder's stale flag is removed)."""
    try:
        pid = int(flag.read_text() or "0")
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False  # this process measures: it is not the one to pause
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        flag.unlink(missing_ok=True)
        return False
    except PermissionError:
        return True
    return True

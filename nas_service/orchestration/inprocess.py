"""An executor that runs trial attempts in this process: inline, or on a few threads.

It implements :class:`~nas_service.orchestration.executor.BaseExecutor` without Ray, so the dispatcher's
policy is tested fast and the controller benchmark times the controller alone. The runner is any function
``runner(payload, reporter) -> TrialRun``: :func:`synthetic_trial` (no training: a deterministic accuracy and
latency from the network's hash, epochs reported so multi-fidelity schedulers act) or the real
``workers.trial.run_trial_detailed`` (which takes the same reporter).

With ``threads=0`` an attempt runs to its end inside :meth:`InProcessExecutor.submit` and its events wait
for the next :meth:`poll` (deterministic; a prune or cancel then comes too late to matter, as for a trial
that finished first). With ``threads > 0`` attempts run concurrently and ``cancel``/``prune`` stop them at
their next check.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor

from nas_service.jobspec import EpochReport, LatencyMeasurement, TrialResult, TrialState
from nas_service.latency.gate import with_prediction
from nas_service.orchestration.executor import (
    CheckpointEvent,
    CrashedEvent,
    EpochEvent,
    ExecutorEvent,
    FinishedEvent,
    HeartbeatEvent,
    LatencyEvent,
    TrialHandle,
    TrialPayload,
    TrialRun,
)

__all__ = ["InProcessExecutor", "InProcessReporter", "Runner", "synthetic_trial"]

_NODE = "127.0.0.1"


class InProcessReporter:
    """The reporter an in-process attempt gets: events go to its executor's queue, stop flags come back."""

    def __init__(self, handle: TrialHandle, events: queue.SimpleQueue[ExecutorEvent], stop: threading.Event) -> None:
        self.handle = handle
        self._events = events
        self._stop = stop
        self.reason: str | None = None

    def epoch(self, report: EpochReport) -> None:
        """Record one epoch's validation result."""
        self._events.put(EpochEvent(self.handle, report))

    def latency(self, measurement: LatencyMeasurement) -> None:
        """Record the latency, measured before training."""
        self._events.put(LatencyEvent(self.handle, measurement))

    def checkpoint(self, epoch: int, data: bytes) -> None:
        """Hand a stage-two training's checkpoint to the controller."""
        self._events.put(CheckpointEvent(self.handle, epoch, data))

    def heartbeat(self) -> None:
        """Signal that the attempt is alive (cheap: no rate limit needed in-process)."""
        self._events.put(HeartbeatEvent(self.handle, os.getpid(), _NODE, "in-process", time.time()))

    def should_stop(self) -> bool | str:
        """Falsy to go on; ``"cancelled"`` for a cancel; ``"pruned"`` to stop early."""
        return (self.reason or "cancelled") if self._stop.is_set() else False


Runner = Callable[[TrialPayload, InProcessReporter], TrialRun]


def synthetic_trial(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
    """A trial that trains nothing: accuracy and latency derived from the network's hash, epochs reported.

    Deterministic per network, so de-duplication, rankings and pruning behave as with real results.
    """
    reporter.heartbeat()
    digest = hashlib.sha256(payload.architecture.arch_hash().encode()).digest()
    accuracy = 0.5 + 0.45 * digest[0] / 255
    median = 1.0 + 9.0 * digest[1] / 255
    latency = payload.cached_latency or LatencyMeasurement(
        device="cpu:synthetic", median_ms=median, p90_ms=median * 1.1, mean_ms=median, samples=1
    )
    latency = with_prediction(latency, payload.predicted_latency)
    reporter.latency(latency)
    epochs = payload.proxy.epochs
    state = TrialState.COMPLETED
    run_epochs = 0
    for epoch in range(1, epochs + 1):
        reporter.epoch(EpochReport(epoch=epoch, val_accuracy=accuracy * epoch / epochs))
        run_epochs = epoch
        stop = reporter.should_stop()
        if stop:
            state = TrialState.CANCELLED if stop == "cancelled" else TrialState.PRUNED
            break
    value = accuracy * run_epochs / epochs if epochs else accuracy
    result = TrialResult(
        state=state, accuracy=value if state != TrialState.CANCELLED else None, latency=latency, epochs_run=run_epochs,
        node=_NODE, worker=f"in-process:{os.getpid()}",
    )  # fmt: skip
    return TrialRun(result=result)


class InProcessExecutor:
    """Runs attempts in this process (module docstring).

    Args:
        runner: The trial function (default :func:`synthetic_trial`).
        threads: Attempts run concurrently on this many threads; ``0`` runs each inline in ``submit``.
        capacity: What this "cluster" has (``None``: anything fits). An attempt asking for more of a resource
            than this (a missing resource is 0) never starts, as a Ray task no node can place: it waits, sends no
            heartbeat, until cancelled.
    """

    def __init__(
        self, runner: Runner | None = None, threads: int = 0, capacity: Mapping[str, float] | None = None
    ) -> None:
        self.capacity = dict(capacity) if capacity is not None else None
        self.runner: Runner = runner or synthetic_trial
        self._events: queue.SimpleQueue[ExecutorEvent] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="nas-trial") if threads > 0 else None
        self._stops: dict[str, tuple[threading.Event, InProcessReporter]] = {}
        self._lock = threading.Lock()
        self._count = 0

    def submit(
        self, payload: TrialPayload, resources: Mapping[str, float] | None = None, runner: str = "train"
    ) -> TrialHandle:
        """Start one attempt (``runner`` ``"noop"`` ends at once); one that does not fit ``capacity`` waits."""
        with self._lock:
            self._count += 1
            key = f"{payload.trial_id}#{payload.attempt}#ip{self._count}"
        handle = TrialHandle(payload.trial_id, payload.job_id, payload.attempt, key)
        stop = threading.Event()
        reporter = InProcessReporter(handle, self._events, stop)
        self._stops[key] = (stop, reporter)
        if not self._fits(resources or {}):
            return handle  # never placed: cancel() just forgets it
        if self._pool is None:
            self._run(handle, payload, reporter, runner)
        else:
            self._pool.submit(self._run, handle, payload, reporter, runner)
        return handle

    def missing_resources(self, names: Collection[str]) -> list[str]:
        """The resources ``capacity`` lacks (none without a capacity: anything fits)."""
        if self.capacity is None:
            return []
        return [name for name in names if self.capacity.get(name, 0.0) < 1]

    def _fits(self, resources: Mapping[str, float]) -> bool:
        if self.capacity is None:
            return True
        return all(amount <= self.capacity.get(key, 0.0) for key, amount in resources.items() if amount > 0)

    def _run(self, handle: TrialHandle, payload: TrialPayload, reporter: InProcessReporter, runner: str) -> None:
        try:
            if runner == "noop":
                reporter.heartbeat()
                run = TrialRun(result=TrialResult(state=TrialState.COMPLETED, node=_NODE))
            else:
                run = self.runner(payload, reporter)
            self._events.put(FinishedEvent(handle, run.result, run))
        except Exception as exc:  # noqa: BLE001 - a raising runner is a lost attempt, as a crashed worker
            self._events.put(CrashedEvent(handle, f"{type(exc).__name__}: {exc}"))
        finally:
            self._stops.pop(handle.key, None)

    def poll(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """Events since the last poll, waiting up to ``timeout`` seconds for the first one."""
        out: list[ExecutorEvent] = []
        try:
            out.append(self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait())
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def cancel(self, handle: TrialHandle, grace_s: float | None = None) -> None:
        """Ask an attempt to stop; it reports ``cancelled`` (nothing happens to one that already finished)."""
        self._signal(handle, "cancelled")

    def prune(self, handle: TrialHandle) -> None:
        """Ask an attempt to stop early; it reports ``pruned``."""
        self._signal(handle, "pruned")

    def _signal(self, handle: TrialHandle, reason: str) -> None:
        entry = self._stops.get(handle.key)
        if entry is not None:
            stop, reporter = entry
            reporter.reason = reason
            stop.set()

    def shutdown(self) -> None:
        """Stop every running attempt and wait for the threads."""
        for stop, reporter in list(self._stops.values()):
            reporter.reason = "cancelled"
            stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

"""The Ray execution layer: run trial attempts as Ray tasks and stream their progress back to the dispatcher.

:class:`RayExecutor` implements :class:`~nas_service.orchestration.executor.BaseExecutor` (the payload, handle
and event types live there, re-exported here).

Design:

* **One Ray task per attempt, ``max_retries=0``.** Retries are the controller's decision, not Ray's: a lost
  worker comes back as a :class:`CrashedEvent`, the dispatcher records the attempt and submits attempt ``n +
  1``, so every attempt is visible in the database. A task (rather than a long-lived actor per worker) lets
  Ray place each attempt wherever its resources (``num_cpus``, ``num_gpus``) are free, and a killed worker
  only loses the one attempt it was running. Ray reuses worker processes between tasks, so the per-process
  dataset cache still pays off.
* **One ``TrialChannel`` actor per executor** (``num_cpus=0``) carries the side channel: tasks push epoch
  reports and heartbeats into it (fire-and-forget calls), read their stop flag from it (rate-limited to twice
  a second), and the driver drains it on :meth:`RayExecutor.poll`. Actor calls from one caller run in order,
  so a task flushes (one blocking call) before returning and the driver drains *after* seeing a task finish: a
  trial's epochs always precede its :class:`FinishedEvent`.
* **Cancel** sets the stop flag; the trial stops at its next batch and returns ``cancelled``. If it is still
  running after the grace period (a hung kernel, a long evaluation), ``ray.cancel(force=True)`` kills the
  worker and the attempt is still reported as cancelled. **Prune** sets the flag without the forced kill.
* **Crashes**: a worker killed by a signal or the OOM killer, a dead node or a lost object surfaces as a Ray
  error on the task's result and becomes a :class:`CrashedEvent`; with ``stale_after_s`` set, a started
  attempt silent for that long is force-cancelled and reported as crashed too.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from nas_service.jobspec import EpochReport, LatencyMeasurement, TrialResult, TrialState
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
from workers.detection_trial import DetectionTrialPayload, run_detection_trial
from workers.trial import NullReporter, noop_trial, run_trial_detailed

__all__ = [
    "CrashedEvent",
    "EpochEvent",
    "ExecutorEvent",
    "FinishedEvent",
    "HeartbeatEvent",
    "LatencyEvent",
    "RayExecutor",
    "TrialHandle",
]

#: Runners a task can execute, by name (a name, not a function, travels to the worker).
RUNNERS: dict[str, Callable[[Any, Any], TrialRun]] = {
    "train": run_trial_detailed,
    "noop": noop_trial,
    "detection": run_detection_trial,
}
#: The payload type of each runner that does not take a :class:`TrialPayload`.
PAYLOAD_TYPES: dict[str, type[TrialPayload] | type[DetectionTrialPayload]] = {"detection": DetectionTrialPayload}
_STOP_CHECK_S = 0.5


class TrialChannel:
    """Ray actor: per-attempt event buffer and stop flags (see the module docstring)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, dict[str, Any]]] = []
        self._stop: dict[str, str] = {}

    def push(self, key: str, kind: str, data: dict[str, Any]) -> str | None:
        """Buffer an event from a task; answer its stop flag."""
        self._events.append((key, kind, data))
        return self._stop.get(key)

    def stop_reason(self, key: str) -> str | None:
        """The stop flag of ``key`` (``"cancelled"``, ``"pruned"`` or ``None``)."""
        return self._stop.get(key)

    def set_stop(self, key: str, reason: str) -> None:
        """Ask the attempt ``key`` to stop."""
        self._stop[key] = reason

    def forget(self, key: str) -> None:
        """Drop the stop flag of a finished attempt."""
        self._stop.pop(key, None)

    def drain(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Hand over and clear every buffered event."""
        events, self._events = self._events, []
        return events


class ChannelReporter:
    """The :class:`~workers.trial.TrialReporter` used inside a Ray task: talks to the executor's channel."""

    def __init__(self, channel: Any, key: str, heartbeat_interval_s: float) -> None:
        self._channel = channel
        self._key = key
        self._interval = heartbeat_interval_s
        self._last_beat = -float("inf")
        self._last_check = -float("inf")
        self._stop: str | None = None
        self._identity = {
            "pid": os.getpid(),
            "node_ip": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def epoch(self, report: EpochReport) -> None:
        """Push the epoch report (no wait)."""
        self._channel.push.remote(self._key, "epoch", report.model_dump(mode="json"))

    def latency(self, measurement: LatencyMeasurement) -> None:
        """Push the latency measured before training (no wait)."""
        self._channel.push.remote(self._key, "latency", measurement.model_dump(mode="json"))

    def checkpoint(self, epoch: int, data: bytes) -> None:
        """Push a stage-two checkpoint (waits, so a crash right after an epoch still leaves it stored)."""
        ray.get(self._channel.push.remote(self._key, "checkpoint", {"epoch": epoch, "data": data}))

    def heartbeat(self) -> None:
        """Push a heartbeat if the last one is older than the interval (no wait)."""
        now = time.monotonic()
        if now - self._last_beat >= self._interval:
            self._last_beat = now
            self._channel.push.remote(self._key, "heartbeat", {**self._identity, "at": time.time()})

    def should_stop(self) -> bool | str:
        """The stop flag, refreshed from the channel at most every half second."""
        now = time.monotonic()
        if self._stop is None and now - self._last_check >= _STOP_CHECK_S:
            self._last_check = now
            self._stop = ray.get(self._channel.stop_reason.remote(self._key))
        return self._stop or False

    def flush(self) -> None:
        """Wait until every event pushed so far is in the channel (actor calls run in submission order)."""
        ray.get(self._channel.stop_reason.remote(self._key))


def _run_task(
    payload_json: str, key: str, channel: Any, runner: str, heartbeat_interval_s: float
) -> tuple[str, bytes | None]:
    """Run one attempt; answer the run as JSON and its trained weights as raw bytes (no base64 detour)."""
    reporter = ChannelReporter(channel, key, heartbeat_interval_s)
    reporter.heartbeat()  # the first heartbeat says where (node, pid) the attempt runs
    run = RUNNERS[runner](PAYLOAD_TYPES.get(runner, TrialPayload).model_validate_json(payload_json), reporter)
    t0 = time.perf_counter()
    reporter.flush()
    run.phases["report"] = run.phases.get("report", 0.0) + time.perf_counter() - t0
    return run.model_dump_json(), run.weights


_trial_task = ray.remote(max_retries=0, retry_exceptions=False)(_run_task)
_channel_actor = ray.remote(num_cpus=0, max_restarts=0)(TrialChannel)


@dataclass
class _Running:
    handle: TrialHandle
    ref: Any
    submitted_at: float
    last_heartbeat: float | None = None
    cancel_requested_at: float | None = None
    cancel_grace_s: float = 0.0
    forced: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def _task_options(resources: Mapping[str, float] | None) -> dict[str, Any]:
    res = dict(resources) if resources is not None else {"cpu": 1.0, "gpu": 0.0}
    opts: dict[str, Any] = {"num_cpus": float(res.pop("cpu", 1.0)), "num_gpus": float(res.pop("gpu", 0.0))}
    if "memory" in res:
        opts["memory"] = int(res.pop("memory"))
    if res:
        opts["resources"] = {k: float(v) for k, v in res.items()}
    return opts


class RayExecutor:
    """Runs trial attempts on a local or remote Ray cluster and reports what happens as events.

    Args:
        address: A Ray cluster address (``host:port``, ``ray://...`` or ``auto``); ``None`` starts a
            local Ray.
        num_cpus: CPUs of a local Ray (ignored with an address).
        node_ip_address: This driver's node IP (needed on multi-address hosts, e.g. loopback test clusters).
        log_to_driver: Forward worker logs to this process.
        cancel_grace_s: How long a cancelled attempt may take to stop by itself before it is killed.
        heartbeat_interval_s: Minimum seconds between a task's heartbeats.
        stale_after_s: Report a started attempt silent for this long as crashed (``None``: rely on Ray).

    If Ray is already initialised in this process it is used as is and left running by :meth:`shutdown`.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        node_ip_address: str | None = None,
        log_to_driver: bool = False,
        cancel_grace_s: float = 5.0,
        heartbeat_interval_s: float = 2.0,
        stale_after_s: float | None = None,
    ) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            kwargs: dict[str, Any] = {"log_to_driver": log_to_driver, "include_dashboard": False}
            # Without an address, a new in-process Ray ("local"): a bare ray.init() would silently join whatever
            # cluster the last `ray start` on this machine recorded (or RAY_ADDRESS); clusters are chosen only by
            # NAS_RAY_ADDRESS.
            kwargs["address"] = address or "local"
            if not address and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            if node_ip_address:
                kwargs["_node_ip_address"] = node_ip_address
            ray.init(**kwargs)
        self.cancel_grace_s = cancel_grace_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.stale_after_s = stale_after_s
        self._channel: Any = _channel_actor.options(name=f"nas-trial-channel-{uuid.uuid4().hex[:12]}").remote()
        self._running: dict[str, _Running] = {}

    # --- submitting and steering ---

    def submit(
        self,
        payload: TrialPayload | DetectionTrialPayload,
        resources: Mapping[str, float] | None = None,
        runner: str = "train",
    ) -> TrialHandle:
        """Start one attempt.

        Args:
            payload: The trial to run.
            resources: ``{"cpu": n, "gpu": m}`` plus optional ``memory`` (bytes) and custom Ray resources; a
                positive ``gpu`` requests ``num_gpus``. With no GPU requested, ``auto`` devices are pinned to
                CPU so an attempt never uses a GPU it did not reserve.
            runner: ``"train"`` (the real trial), ``"detection"`` (a detection trial; ``payload`` is then a
                :class:`~workers.detection_trial.DetectionTrialPayload`) or ``"noop"`` (overhead measurements).

        Returns:
            The handle events refer to.
        """
        if runner not in RUNNERS:
            raise ValueError(f"unknown runner {runner!r}; choose from {sorted(RUNNERS)}")
        if not isinstance(payload, PAYLOAD_TYPES.get(runner, TrialPayload)):
            raise TypeError(f"runner {runner!r} takes a {PAYLOAD_TYPES.get(runner, TrialPayload).__name__}")
        opts = _task_options(resources)
        if opts["num_gpus"] <= 0:
            payload = _pin_to_cpu(payload)
        handle = TrialHandle(
            payload.trial_id,
            payload.job_id,
            payload.attempt,
            f"{payload.trial_id}#{payload.attempt}#{uuid.uuid4().hex[:8]}",
        )
        name = f"trial-{payload.trial_id}-a{payload.attempt}"[:100]
        ref = _trial_task.options(name=name, **opts).remote(
            payload.model_dump_json(), handle.key, self._channel, runner, self.heartbeat_interval_s
        )
        self._running[handle.key] = _Running(handle, ref, time.time())
        return handle

    def cancel(self, handle: TrialHandle, grace_s: float | None = None) -> None:
        """Ask an attempt to stop; kill its worker if it is still running after ``grace_s`` seconds.

        ``grace_s`` defaults to the executor's ``cancel_grace_s``.

        The attempt is reported by a :class:`FinishedEvent` with state ``cancelled`` either way.
        """
        rec = self._running.get(handle.key)
        if rec is None or rec.cancel_requested_at is not None:
            return
        rec.cancel_requested_at = time.monotonic()
        rec.cancel_grace_s = self.cancel_grace_s if grace_s is None else grace_s
        self._channel.set_stop.remote(handle.key, "cancelled")
        if rec.last_heartbeat is None:  # still queued (or just starting): nothing to wait for
            ray.cancel(rec.ref, force=False)

    def missing_resources(self, names: Collection[str]) -> list[str]:
        """The custom resources no node of the Ray cluster advertises now (a latency target's, for instance)."""
        have = ray.cluster_resources()
        return [name for name in names if have.get(name, 0) < 1]

    def prune(self, handle: TrialHandle) -> None:
        """Ask an attempt to stop early; it finishes with state ``pruned`` and its last accuracy."""
        if handle.key in self._running:
            self._channel.set_stop.remote(handle.key, "pruned")

    def running(self) -> list[TrialHandle]:
        """Attempts submitted and not yet reported as finished or crashed."""
        return [rec.handle for rec in self._running.values()]

    def last_heartbeat(self, handle: TrialHandle) -> float | None:
        """Unix time of the attempt's last heartbeat seen by :meth:`poll`, if any."""
        rec = self._running.get(handle.key)
        return rec.last_heartbeat if rec else None

    # --- events ---

    def poll(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """Collect what happened since the last call, waiting up to ``timeout`` seconds for something.

        Returns:
            Events in order: a trial's epochs and heartbeats before its finished/crashed event.
        """
        deadline = time.monotonic() + timeout
        while True:
            events = self._poll_once()
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            refs = [rec.ref for rec in self._running.values()]
            if refs:
                ray.wait(refs, num_returns=1, timeout=min(0.1, remaining))
            else:
                time.sleep(min(0.1, remaining))

    def _poll_once(self) -> list[ExecutorEvent]:
        refs = {rec.ref: key for key, rec in self._running.items()}
        ready: list[Any] = []
        if refs:
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        events: list[ExecutorEvent] = []
        # Drained after the wait: a finished task flushed its events before returning.
        for key, kind, data in ray.get(self._channel.drain.remote()):
            rec = self._running.get(key)
            if rec is None:
                continue
            if kind == "epoch":
                events.append(EpochEvent(rec.handle, EpochReport.model_validate(data)))
            elif kind == "latency":
                events.append(LatencyEvent(rec.handle, LatencyMeasurement.model_validate(data)))
            elif kind == "checkpoint":
                events.append(CheckpointEvent(rec.handle, int(data["epoch"]), bytes(data["data"])))
            elif kind == "heartbeat":
                rec.last_heartbeat = float(data["at"])
                rec.info = data
                events.append(
                    HeartbeatEvent(
                        rec.handle,
                        int(data["pid"]),
                        str(data["node_ip"]),
                        str(data["node_id"]),
                        float(data["at"]),
                    )
                )
        for ref in ready:
            events.append(self._collect(self._running.pop(refs[ref])))
        now = time.monotonic()
        for key, rec in list(self._running.items()):
            if rec.cancel_requested_at is not None and not rec.forced:
                if now - rec.cancel_requested_at >= rec.cancel_grace_s:
                    rec.forced = True
                    ray.cancel(rec.ref, force=True)
            elif (
                self.stale_after_s is not None
                and rec.last_heartbeat is not None
                and time.time() - rec.last_heartbeat > self.stale_after_s
            ):
                ray.cancel(rec.ref, force=True)
                del self._running[key]
                self._channel.forget.remote(key)
                events.append(CrashedEvent(rec.handle, f"Stale: no heartbeat for {self.stale_after_s:g} s"))
        return events

    def _collect(self, rec: _Running) -> ExecutorEvent:
        self._channel.forget.remote(rec.handle.key)
        try:
            run_json, weights = ray.get(rec.ref)
            run = TrialRun.model_validate_json(run_json)
            run.weights = weights
            return FinishedEvent(rec.handle, run.result, run)
        except ray.exceptions.RayError as exc:
            if rec.cancel_requested_at is not None:
                node, worker = rec.info.get("node_ip"), rec.info.get("pid")
                result = TrialResult(
                    state=TrialState.CANCELLED,
                    node=str(node) if node else None,
                    worker=str(worker) if worker else None,
                    error=f"stopped by force: {type(exc).__name__}",
                )
                return FinishedEvent(rec.handle, result, None)
            message = str(exc).strip().splitlines()
            return CrashedEvent(rec.handle, f"{type(exc).__name__}: {message[0] if message else ''}"[:2000])

    # --- lifecycle ---

    def shutdown(self) -> None:
        """Kill running attempts and the channel; stop Ray if this executor started it."""
        for rec in self._running.values():
            ray.cancel(rec.ref, force=True)
        self._running.clear()
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._channel)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _pin_to_cpu(payload: TrialPayload | DetectionTrialPayload) -> TrialPayload | DetectionTrialPayload:
    update: dict[str, Any] = {}
    if payload.proxy.device == "auto":
        update["proxy"] = payload.proxy.model_copy(update={"device": "cpu"})
    if payload.latency.device == "auto":
        update["latency"] = payload.latency.model_copy(update={"device": "cpu"})
    return payload.model_copy(update=update) if update else payload


def run_locally(payload: TrialPayload) -> TrialRun:
    """Run an attempt in this process without Ray (debugging, ``nas`` one-off runs)."""
    return run_trial_detailed(payload, NullReporter())

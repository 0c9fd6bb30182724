"""The seam between the dispatcher and whatever runs trial attempts: payload, handle, events, ``BaseExecutor``.

The dispatcher (:class:`nas_service.orchestration.Dispatcher`) only ever talks to a :class:`BaseExecutor`:
it submits a :class:`TrialPayload`, gets a :class:`TrialHandle` back, and later polls events about that
handle. Two executors implement it: :class:`workers.executor.RayExecutor` (one Ray task per attempt) and
:class:`nas_service.orchestration.InProcessExecutor` (threads in this process; fast policy tests and the
controller benchmark). Events of one attempt arrive in order: heartbeats, the latency, epochs, then exactly
one :class:`FinishedEvent` or :class:`CrashedEvent`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nas_service.arch.spec import Architecture
from nas_service.jobspec import (
    EpochReport,
    FinalConfig,
    LatencyConfig,
    LatencyMeasurement,
    ProxyConfig,
    RewardConfig,
    TrialResult,
)

__all__ = [
    "BaseExecutor",
    "CheckpointEvent",
    "CrashedEvent",
    "EpochEvent",
    "ExecutorEvent",
    "FinishedEvent",
    "HeartbeatEvent",
    "LatencyEvent",
    "TrialHandle",
    "TrialPayload",
    "TrialRun",
]


class TrialPayload(BaseModel):
    """Everything a worker needs to run one trial attempt (JSON-serialisable; sent to the Ray task).

    Attributes:
        trial_id: The controller's trial id.
        job_id: The job the trial belongs to.
        attempt: Attempt number (1-based); retries of a lost worker get the next number.
        architecture: The network as trained: the worker trains and measures latency at its resolution. Its
            classes and channels come from the dispatcher too; the data's own replace them only as a safety net.
        proxy: The proxy training task.
        latency: How to measure latency.
        reward: The reward's target and exponents.
        cached_latency: A latency already measured for this network on this kind of device, or (``latency.mode:
            predict``) its prediction: the worker does not measure.
        predicted_latency: The job target's prediction for this network (modes ``predict`` and
            ``predict-then-measure``): the trial's latency record carries it as ``predicted_ms``.
        final: The stage-two recipe of a ``final`` job (augmentation, EMA, test-split accuracy, a checkpoint
            after every epoch); ``None`` for a proxy trial.
        resume_checkpoint: Base64 of the last checkpoint an earlier attempt of this trial stored: the attempt
            continues from it (epochs continue, not restart).
        init_weights: Base64 of a parent network's trained ``state_dict`` (a NetAdapt proposal): the worker
            starts from it where shapes allow (:func:`nas_service.arch.inherit.inherit_weights`).
        reference_architecture: A network (as trained) to time run by run alternately with this one (a NetAdapt
            proposal's parent): ``LatencyMeasurement.reference_ms``.
    """

    model_config = ConfigDict(extra="forbid")

    trial_id: int | str
    job_id: int | str
    attempt: int = Field(1, ge=1)
    architecture: Architecture
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    cached_latency: LatencyMeasurement | None = None
    predicted_latency: LatencyMeasurement | None = None
    final: FinalConfig | None = None
    resume_checkpoint: str | None = None
    init_weights: str | None = None
    reference_architecture: Architecture | None = None


class TrialRun(BaseModel):
    """A finished attempt's result and the numbers around it.

    Attributes:
        result: The trial result the controller stores.
        reward: The MnasNet reward (``None`` unless completed with accuracy and latency).
        phases: Seconds per phase: ``data``, ``build``, ``train``, ``latency``, ``report``, ``other``.
        images_per_second: Training throughput.
        latency_key: :func:`~nas_service.orchestration.latency_cache.latency_cache_key` of a freshly measured
            latency, for the cross-job cache.
        latency_runtime: :func:`~nas_service.orchestration.latency_cache.runtime_key` of the worker that
            measured it (torch version, protocol, layout), so the controller can look the cache up without
            importing torch.
        measured_arch_hash: Hash of the network as trained (its resolution, the data's classes and channels).
        input_shape: Per-sample input shape ``(C, H, W)`` of the proxy data.
        num_classes: Classes of the proxy data.
        preprocessing: What the trained network's input is (:class:`nas_service.export.Preprocessing` as a
            dict): the data's per-channel mean/std, shape and value range; stored beside the weights.
        weights: ``torch.save`` bytes of the trained ``state_dict`` (CPU tensors) of a completed or pruned
            trial; ``None`` otherwise or above the size limit. Kept out of the JSON form.
    """

    model_config = ConfigDict(extra="forbid")

    result: TrialResult
    reward: float | None = None
    phases: dict[str, float] = Field(default_factory=dict)
    images_per_second: float | None = None
    latency_key: str | None = None
    latency_runtime: str | None = None
    measured_arch_hash: str | None = None
    input_shape: list[int] | None = None
    num_classes: int | None = None
    preprocessing: dict[str, Any] | None = None
    weights: bytes | None = Field(None, exclude=True)


@dataclass(frozen=True)
class TrialHandle:
    """A submitted attempt.

    Attributes:
        trial_id: The controller's trial id.
        job_id: Its job.
        attempt: The attempt number.
        key: Unique key of this submission (events and idempotent result storage use it).
    """

    trial_id: int | str
    job_id: int | str
    attempt: int
    key: str


@dataclass(frozen=True)
class EpochEvent:
    """An epoch finished. ``report.epoch`` counts completed epochs (1-based)."""

    handle: TrialHandle
    report: EpochReport


@dataclass(frozen=True)
class LatencyEvent:
    """The attempt measured (or reused) its latency, before training: a multi-fidelity pruner ranks by it."""

    handle: TrialHandle
    latency: LatencyMeasurement


@dataclass(frozen=True)
class CheckpointEvent:
    """A long (stage-two) training finished an epoch and sent its checkpoint: the controller stores it.

    Attributes:
        handle: The attempt.
        epoch: Epochs completed.
        data: ``torch.save`` bytes of the training state (model, optimiser, schedule, EMA, random streams).
    """

    handle: TrialHandle
    epoch: int
    data: bytes


@dataclass(frozen=True)
class HeartbeatEvent:
    """The attempt is alive (the first one also says where it runs).

    Attributes:
        handle: The attempt.
        pid: Worker process id.
        node_ip: IP of the node running it.
        node_id: Node id.
        at: Unix time the worker sent it.
    """

    handle: TrialHandle
    pid: int
    node_ip: str
    node_id: str
    at: float


@dataclass(frozen=True)
class FinishedEvent:
    """The attempt returned: ``result.state`` is completed, pruned, cancelled or failed.

    Attributes:
        handle: The attempt.
        result: What to store.
        run: The result's details (reward, phase timings, latency cache key, trained weights); ``None`` for
            a force-cancelled one.
    """

    handle: TrialHandle
    result: TrialResult
    run: TrialRun | None = None


@dataclass(frozen=True)
class CrashedEvent:
    """The attempt was lost (worker or node died, or it went silent): the controller decides about a retry.

    Attributes:
        handle: The attempt.
        error: ``"<error type>: <message>"``.
    """

    handle: TrialHandle
    error: str


ExecutorEvent = EpochEvent | LatencyEvent | CheckpointEvent | HeartbeatEvent | FinishedEvent | CrashedEvent


@runtime_checkable
class BaseExecutor(Protocol):
    """What the dispatcher needs from an execution layer (structural: Ray's and the in-process one).

    Call order: ``submit`` an attempt, ``poll`` its events until one :class:`FinishedEvent` or
    :class:`CrashedEvent` arrives; ``cancel`` (the attempt reports ``cancelled``) or ``prune`` (it stops at its
    next check and reports ``pruned``) at any time before that; ``shutdown`` once at the end.
    """

    def submit(
        self, payload: TrialPayload, resources: Mapping[str, float] | None = None, runner: str = "train"
    ) -> TrialHandle:
        """Start one attempt; ``runner`` is ``"train"`` (the real trial) or ``"noop"``."""
        ...

    def poll(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """Events since the last poll, waiting up to ``timeout`` seconds for the first one."""
        ...

    def cancel(self, handle: TrialHandle, grace_s: float | None = None) -> None:
        """Ask an attempt to stop (forcibly after ``grace_s``); it is reported as cancelled."""
        ...

    def prune(self, handle: TrialHandle) -> None:
        """Ask an attempt to stop early (multi-fidelity); it reports ``pruned`` with its partial values."""
        ...

    def missing_resources(self, names: Collection[str]) -> list[str]:
        """Which of these custom resources (e.g. ``latency:edge-a76``) no node of the cluster advertises now."""
        ...

    def shutdown(self) -> None:
        """Stop everything this executor started."""
        ...

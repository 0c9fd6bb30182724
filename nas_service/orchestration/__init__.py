"""Orchestration policy: what runs next, what a lost attempt becomes, when a job is done.

Pure library code, typed and testable without Ray; ``workers/`` only moves bytes to and from Ray.

* :mod:`~nas_service.orchestration.executor`: the executor seam (:class:`BaseExecutor`, payload, events).
* :mod:`~nas_service.orchestration.inprocess`: :class:`InProcessExecutor` (threads; tests, benchmarks).
* :mod:`~nas_service.orchestration.lease`: job claims and leases.
* :mod:`~nas_service.orchestration.opening`: opening a claimed job (strategy, scheduler, restore).
* :mod:`~nas_service.orchestration.jobrun`: what is kept per held job; restore from trials by suggestion id.
* :mod:`~nas_service.orchestration.placement`: network as trained, caps, de-duplication, the trial row.
* :mod:`~nas_service.orchestration.retries`: lost attempts retried or failed.
* :mod:`~nas_service.orchestration.completion`: when and how a job ends.
* :mod:`~nas_service.orchestration.latency_cache`: the latency cache key and lookup.
* :mod:`~nas_service.orchestration.dispatcher`: :class:`Dispatcher`, the loop tying them together.
"""

from nas_service.orchestration.dispatcher import Dispatcher
from nas_service.orchestration.executor import (
    BaseExecutor,
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
from nas_service.orchestration.inprocess import InProcessExecutor, synthetic_trial
from nas_service.orchestration.jobrun import STATE_FORMAT, JobRun, told_history

__all__ = [
    "STATE_FORMAT",
    "BaseExecutor",
    "CheckpointEvent",
    "CrashedEvent",
    "Dispatcher",
    "EpochEvent",
    "ExecutorEvent",
    "FinishedEvent",
    "HeartbeatEvent",
    "InProcessExecutor",
    "JobRun",
    "LatencyEvent",
    "TrialHandle",
    "TrialPayload",
    "TrialRun",
    "synthetic_trial",
    "told_history",
]

"""What the dispatcher keeps about one held job, and how that survives a restart.

A :class:`JobRun` holds the job's strategy and multi-fidelity scheduler, the map from trials to the strategy's
suggestions, the attempts in flight and a few counters. :meth:`JobRun.save_state` stores the strategy state,
the suggestion map and the scheduler state as one JSON blob (``BaseStorage.save_strategy_state``);
:meth:`JobRun.restore_state` brings them back on a fresh dispatcher and reconciles them with the database:
a suggestion whose trial finished before the blob was saved is told now, one that never became a trial is
told ``failed``, so every suggestion is told exactly once across restarts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nas_service.arch.spec import Architecture
from nas_service.jobspec import TRIAL_TERMINAL, LatencyConfig, LatencyMeasurement, ProxyConfig, TrialState
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord
from nas_service.storage.errors import NotFoundError
from workers.executor import TrialHandle

__all__ = ["KNOWN_SHAPES", "STATE_FORMAT", "JobRun", "cached_latency", "outcome_of_record", "outcome_state"]

#: Format tag of the blob :meth:`JobRun.save_state` writes.
STATE_FORMAT = "nas-dispatcher/1"
#: Data shapes (classes, channels) of the built-in datasets; others are learned from the first result.
KNOWN_SHAPES: dict[str, tuple[int, int]] = {"digits": (10, 1), "synthetic": (10, 3), "cifar10": (10, 3)}
_OUTCOME_OF = {
    TrialState.COMPLETED: "completed",
    TrialState.PRUNED: "pruned",
    TrialState.DUPLICATE: "duplicate",
    TrialState.REJECTED: "rejected",
}


def outcome_state(state: TrialState) -> Any:
    """The strategy outcome state of a trial state (cancelled and failed trials are ``failed``)."""
    return _OUTCOME_OF.get(state, "failed")


def outcome_of_record(trial: TrialRecord) -> Any:
    """The strategy :class:`~nas_service.strategies.Outcome` of a stored trial."""
    from nas_service.strategies import Outcome

    return Outcome(
        state=outcome_state(trial.state),
        accuracy=trial.accuracy,
        latency_ms=trial.latency_ms,
        reward=trial.reward,
        params=trial.params_count,
        macs=trial.macs,
        epochs=trial.epochs_run,
    )


@dataclass
class JobRun:
    """One held job.

    Attributes:
        job: The latest job record read.
        strategy: Its :class:`~nas_service.strategies.BaseStrategy`.
        scheduler: Its multi-fidelity scheduler, or ``None``.
        suggestion_of: Trial id -> suggestion id, for trials whose outcome the strategy still awaits.
        running: Trial id -> the attempt in flight.
        latency_ms: Latency of the attempts in flight (reported before training; the scheduler ranks by it).
        inflight: Architecture hash -> trial id of the attempts in flight (duplicates of these are not trained).
        searches_resolution: The candidates' own resolution is trained (else the proxy's).
        data_signature: ``(classes, channels)`` of the proxy data, when the dispatcher could read it.
        trained: Trials created to be trained; the trial budget counts these.
        skips: Rejected or duplicate candidates in a row.
        exhausted: The strategy has nothing new to propose (requeued retries still run).
        out_of_time: The wall-time budget is spent: nothing more starts, running attempts are cancelled.
        renewed_at: Monotonic time of the last lease renewal.
        checked_at: Monotonic time the job's state was last re-read.
        dirty: The state changed since it was last saved.
    """

    job: JobRecord
    strategy: Any
    scheduler: Any
    suggestion_of: dict[int, str] = field(default_factory=dict)
    running: dict[int, TrialHandle] = field(default_factory=dict)
    latency_ms: dict[int, float] = field(default_factory=dict)
    inflight: dict[str, int] = field(default_factory=dict)
    searches_resolution: bool = False
    data_signature: tuple[int, int] | None = None
    trained: int = 0
    skips: int = 0
    exhausted: bool = False
    out_of_time: bool = False
    renewed_at: float = field(default_factory=time.monotonic)
    checked_at: float = 0.0
    dirty: bool = False
    replay: list[str] = field(default_factory=list)

    def tell(self, trial_id: int, outcome: Any) -> None:
        """Tell the strategy the outcome of a trial's suggestion (once; later calls are no-ops)."""
        sid = self.suggestion_of.pop(trial_id, None)
        if sid is not None and sid in self.strategy.pending:
            self.strategy.tell(sid, outcome)
        self.dirty = True

    def forget(self, trial_id: int) -> TrialHandle | None:
        """Drop a trial's attempt from the in-flight maps; its handle, if one was in flight."""
        handle = self.running.pop(trial_id, None)
        self.latency_ms.pop(trial_id, None)
        for arch_hash, tid in list(self.inflight.items()):
            if tid == trial_id:
                del self.inflight[arch_hash]
        return handle

    def save_state(self, storage: BaseStorage) -> None:
        """Store the strategy state, the suggestion map and the scheduler state."""
        latest = storage.list_trials(self.job.id, sort="number", order="desc", limit=1).items
        blob = {
            "format": STATE_FORMAT,
            "strategy": self.strategy.state_dict(),
            "suggestions": {str(k): v for k, v in self.suggestion_of.items()},
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            # Trials numbered above this were created after this save: restore_state adopts them.
            "last_number": latest[0].number if latest else 0,
        }
        storage.save_strategy_state(self.job.id, blob)
        self.dirty = False

    def restore_state(self, storage: BaseStorage) -> None:
        """Load what :meth:`save_state` stored (if anything) and reconcile it with the stored trials."""

        blob = storage.load_strategy_state(self.job.id)
        if not blob or blob.get("format") != STATE_FORMAT:
            return
        self.strategy.load_state_dict(blob["strategy"])
        if self.scheduler is not None and blob.get("scheduler"):
            self.scheduler.load_state_dict(blob["scheduler"])
        pending = self.strategy.pending
        mapped = {int(k): v for k, v in blob.get("suggestions", {}).items() if v in pending}
        for trial_id, sid in list(mapped.items()):
            try:
                trial = storage.get_trial(trial_id)
            except NotFoundError:
                continue
            if trial.state in TRIAL_TERMINAL:  # finished before the state was saved: tell it now
                self.strategy.tell(sid, outcome_of_record(trial))
                del mapped[trial_id]
        self._adopt_orphans(storage, blob.get("last_number"), mapped)
        # Asked, never became a trial (the dispatcher died between saving the ask and placing it): placed on the
        # next fill, before anything new is asked. ``pending`` is re-read: the ones told above are no longer in it.
        self.replay = sorted(set(self.strategy.pending) - set(mapped.values()))
        self.suggestion_of = mapped

    def drop_replays(self) -> None:
        """Tell suggestions that will never be placed (the budget is spent) as failed, so none stays pending."""
        from nas_service.strategies import Outcome

        for sid in self.replay:
            self.strategy.tell(sid, Outcome(state="failed"))
        self.replay = []

    def _adopt_orphans(self, storage: BaseStorage, last_number: int | None, mapped: dict[int, str]) -> None:
        """Link trials created after the last save to the pending suggestions they came from.

        The dispatcher saves right after ``ask`` (so a suggestion is durable before its trial exists) and again
        after placing; a crash between the two leaves trials the saved map does not know. Each such trial is
        matched to a pending suggestion with the same (canonical) parameters: a finished one is told now, an
        unfinished one is mapped and so retried like any other. Without this, its outcome never reached the
        strategy and the re-asked suggestion could train the same network twice.
        """
        if last_number is None:
            return
        waiting = {sid: self.strategy.key(p) for sid, p in self.strategy.pending.items() if sid not in mapped.values()}
        if not waiting:
            return
        newest = storage.list_trials(self.job.id, sort="number", order="desc", limit=len(waiting) + 50).items
        for trial in sorted(
            (t for t in newest if t.number > last_number and t.id not in mapped), key=lambda t: t.number
        ):
            key = self.strategy.key(trial.params)
            sid = next((s for s, k in waiting.items() if k == key), None)
            if sid is None:
                continue
            del waiting[sid]
            if trial.state in TRIAL_TERMINAL:
                self.strategy.tell(sid, outcome_of_record(trial))
            else:
                mapped[trial.id] = sid


def cached_latency(
    storage: BaseStorage,
    arch: Architecture,
    proxy: ProxyConfig,
    latency: LatencyConfig,
    shape: tuple[int, int],
    device: str,
) -> LatencyMeasurement | None:
    """A latency of ``arch`` as the proxy builds it, measured earlier (any job) on ``device``, if cached.

    Args:
        storage: Where the cross-job cache lives.
        arch: The candidate (the dispatcher passes it as trained).
        proxy: The proxy settings (resolution: the one trained, for the dispatcher ``arch.resolution``).
        latency: The latency settings (batch size, threads).
        shape: ``(classes, channels)`` of the proxy data.
        device: :func:`workers.latency.describe_device` of the workers that would measure it.
    """
    from workers.latency import latency_cache_key

    classes, channels = shape
    measured = arch.model_copy(update={"num_classes": classes, "in_channels": channels, "resolution": proxy.resolution})
    key = latency_cache_key(measured.arch_hash(), (channels, proxy.resolution, proxy.resolution), device, latency)
    record = storage.get_cached_latency(key)
    if record is None:
        return None
    return LatencyMeasurement(
        device=record.device,
        device_kind="cuda" if record.device.startswith("cuda:") else "cpu",
        batch_size=record.batch_size,
        threads=record.threads,
        median_ms=record.median_ms,
        p90_ms=record.p90_ms,
        mean_ms=record.mean_ms,
        std_ms=record.std_ms,
        samples=record.samples,
        samples_ms=list(record.samples_ms),
    )

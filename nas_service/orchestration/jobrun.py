"""What the dispatcher keeps about one held job, and how that survives a restart.

The job's trials are the one source of truth. Each trial row carries the id (and memo) of the suggestion it
came from, written in the transaction that creates it; the saved state (:meth:`JobRun.save_state`, its own
table) holds only the strategy's small state: RNG, next id, the suggestions still pending, and bounded
extras. :meth:`JobRun.restore_state` rebuilds everything else from the trials by suggestion id, with no
matching by parameters:

* a told suggestion is a terminal trial whose id is not pending: the strategy's history;
* a pending suggestion whose trial is terminal finished before the state was saved: it is told now;
* a pending suggestion whose trial is not terminal is awaited (retried like any other lost attempt);
* a pending suggestion with no trial was asked and saved, then the dispatcher died before placing it: it is
  placed first on the next fill (:attr:`JobRun.replay`), unchanged.

So every suggestion is told exactly once across restarts, whatever moment the dispatcher died at. The
multi-fidelity scheduler keeps no saved state at all: its rungs are rebuilt from the trials' epoch curves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nas_service.jobspec import TRIAL_TERMINAL, TrialState
from nas_service.orchestration.executor import TrialHandle
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord
from nas_service.strategies.base import BaseStrategy, Outcome, OutcomeState, Told, suggestion_order
from nas_service.strategies.multifidelity import Scheduler

__all__ = ["STATE_FORMAT", "JobRun", "all_trials", "outcome_of_record", "outcome_state", "told_history"]

#: Format tag of the state :meth:`JobRun.save_state` writes.
STATE_FORMAT = "nas-dispatcher/2"
_OUTCOME_OF: dict[TrialState, OutcomeState] = {
    TrialState.COMPLETED: "completed",
    TrialState.PRUNED: "pruned",
    TrialState.DUPLICATE: "duplicate",
    TrialState.REJECTED: "rejected",
}
#: Trials with no epoch curve of their own (never trained).
_UNTRAINED = (TrialState.REJECTED, TrialState.DUPLICATE)


def outcome_state(state: TrialState) -> OutcomeState:
    """The strategy outcome state of a trial state (cancelled and failed trials are ``failed``)."""
    return _OUTCOME_OF.get(state, "failed")


def outcome_of_record(trial: TrialRecord) -> Outcome:
    """The strategy :class:`~nas_service.strategies.Outcome` of a stored trial."""
    return Outcome(
        state=outcome_state(trial.state),
        accuracy=trial.accuracy,
        latency_ms=trial.latency_ms,
        reward=trial.reward,
        params=trial.params_count,
        macs=trial.macs,
        epochs=trial.epochs_run,
        reference_latency_ms=(trial.latency or {}).get("reference_ms"),
    )


def told_history(trials: list[TrialRecord], pending: dict[str, Any] | None = None) -> list[Told]:
    """The told suggestions of a job, in ask order, rebuilt from its trial rows.

    Args:
        trials: The job's trials (any order).
        pending: Suggestion ids still pending in the saved state (their trials are not history yet).
    """
    waiting = pending or {}
    rows = [
        Told(t.suggestion_id, dict(t.params), outcome_of_record(t), dict(t.suggestion_memo or {}))
        for t in trials
        if t.suggestion_id is not None and t.suggestion_id not in waiting and t.state in TRIAL_TERMINAL
    ]
    return sorted(rows, key=lambda t: suggestion_order(t.suggestion_id))


def all_trials(storage: BaseStorage, job_id: int) -> list[TrialRecord]:
    """Every trial of a job, in number order (read in pages)."""
    out: list[TrialRecord] = []
    while True:
        page = storage.list_trials(job_id, limit=1000, offset=len(out))
        out.extend(page.items)
        if len(page.items) < 1000:
            return out


@dataclass
class JobRun:
    """One held job.

    Attributes:
        job: The latest job record read.
        strategy: Its strategy.
        scheduler: Its multi-fidelity scheduler, or ``None``.
        suggestion_of: Trial id -> suggestion id, for trials whose outcome the strategy still awaits.
        running: Trial id -> the attempt in flight.
        latency_ms: Latency of the attempts in flight (reported before training; the scheduler ranks by it).
        inflight: Architecture hash -> trial id of the attempts in flight (duplicates of these are not trained).
        searches_resolution: The candidates' own resolution is trained (else the proxy's).
        data_signature: ``(classes, channels)`` of the proxy data, when the dispatcher could read it.
        trained: Trials created to be trained (cancelled ones excepted); the trial budget counts these.
        skips: Rejected or duplicate candidates in a row.
        exhausted: The strategy has nothing new to propose (requeued retries still run).
        out_of_time: The wall-time budget is spent: nothing more starts, running attempts are cancelled.
        renewed_at: Monotonic time of the last lease renewal.
        checked_at: Monotonic time the job's state was last re-read.
        dirty: The strategy state changed since it was last saved.
        replay: Suggestions asked (and saved) before a restart that never became a trial: placed first.
        unplaced: Suggestions whose placement a storage outage interrupted (checked against the trials, then
            replayed, once the database is back).
        requeued: Trials of this job waiting in ``queued`` for another attempt (claimed before new asks).
        unsubmitted: Trials this dispatcher claimed (their row ``running`` at an attempt) that the executor does
            not have yet: an outage cut their submission. They are submitted first once the database is back, and
            the job is not finished while any waits.
        blocked_since: Monotonic time since which no node advertises a Ray resource the job's latency targets
            need (nothing new starts meanwhile); ``None`` when not blocked.
        resources_checked_at: Monotonic time of the last such check.
    """

    job: JobRecord
    strategy: BaseStrategy
    scheduler: Scheduler | None
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
    unplaced: list[str] = field(default_factory=list)
    requeued: int = 0
    unsubmitted: set[int] = field(default_factory=set)
    blocked_since: float | None = None
    resources_checked_at: float = 0.0
    _hash_of: dict[int, str] = field(default_factory=dict)

    def tell(self, trial_id: int, outcome: Outcome) -> None:
        """Tell the strategy the outcome of a trial's suggestion (once; later calls are no-ops)."""
        sid = self.suggestion_of.pop(trial_id, None)
        if sid is not None and sid in self.strategy.pending:
            self.strategy.tell(sid, outcome)
            self.dirty = True

    def start(self, trial_id: int, arch_hash: str, handle: TrialHandle) -> None:
        """Record an attempt in flight."""
        self.running[trial_id] = handle
        self.inflight[arch_hash] = trial_id
        self._hash_of[trial_id] = arch_hash

    def forget(self, trial_id: int) -> TrialHandle | None:
        """Drop a trial's attempt from the in-flight maps; its handle, if one was in flight."""
        handle = self.running.pop(trial_id, None)
        self.latency_ms.pop(trial_id, None)
        arch_hash = self._hash_of.pop(trial_id, None)
        if arch_hash is not None and self.inflight.get(arch_hash) == trial_id:
            del self.inflight[arch_hash]
        return handle

    def save_state(self, storage: BaseStorage) -> None:
        """Store the strategy's small state (its own table; its size does not grow with the job)."""
        storage.save_strategy_state(self.job.id, {"format": STATE_FORMAT, "strategy": self.strategy.state_dict()})
        self.dirty = False

    def restore_state(self, storage: BaseStorage) -> None:
        """Rebuild the strategy and scheduler from the saved state and the job's trials (module docstring)."""
        trials = all_trials(storage, self.job.id)
        blob = storage.load_strategy_state(self.job.id)
        if blob and blob.get("format") == STATE_FORMAT:
            state = dict(blob["strategy"])
        else:  # nothing saved yet (or by an older version): a fresh strategy that knows what was tried
            state = self.strategy.state_dict()
            ids = [t.suggestion_id for t in trials if t.suggestion_id is not None]
            if ids:
                state["next_id"] = max(suggestion_order(sid)[0] for sid in ids) + 1
        pending: dict[str, Any] = dict(state.get("pending") or {})
        if trials or blob:
            self.strategy.load_state_dict(state, told_history(trials, pending))
        by_sid = {t.suggestion_id: t for t in trials if t.suggestion_id is not None}
        mapped: dict[int, str] = {}
        replay: list[str] = []
        for sid in sorted(pending, key=suggestion_order):
            trial = by_sid.get(sid)
            if trial is None:
                replay.append(sid)
            elif trial.state in TRIAL_TERMINAL:  # finished before the state was saved: tell it now
                self.strategy.tell(sid, outcome_of_record(trial))
                self.dirty = True
            else:
                mapped[trial.id] = sid
        self.suggestion_of, self.replay = mapped, replay
        self._rebuild_scheduler(storage, trials)

    def _rebuild_scheduler(self, storage: BaseStorage, trials: list[TrialRecord]) -> None:
        """Feed the scheduler every stored epoch again (its rungs hold results; the decisions are past)."""
        if self.scheduler is None:
            return
        for trial in sorted(trials, key=lambda t: t.number):
            if trial.epochs_run <= 0 or trial.state in _UNTRAINED:
                continue
            for metric in storage.list_metrics(trial.id):
                self.scheduler.on_epoch(str(trial.id), metric.epoch, metric.val_accuracy, trial.latency_ms)

    def drop_replays(self) -> None:
        """Tell suggestions that will never be placed (the budget is spent) as failed, so none stays pending."""
        for sid in self.replay:
            self.strategy.tell(sid, Outcome(state="failed"))
            self.dirty = True
        self.replay = []

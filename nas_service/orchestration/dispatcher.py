"""The dispatcher: drives claimed jobs from the database through a strategy onto an executor.

One loop (:meth:`Dispatcher.step`) per tick, single-threaded, so no lock guards its state:

1. **Claim** jobs (:mod:`~nas_service.orchestration.lease`) up to ``max_jobs`` and renew held leases. Opening a
   job (:mod:`~nas_service.orchestration.opening`) builds its strategy and scheduler, rebuilds them from the
   job's trials and small saved state (:mod:`~nas_service.orchestration.jobrun`) and retries the trials a
   dead dispatcher left ``running``/``stale`` (:mod:`~nas_service.orchestration.retries`).
2. **Fill** free slots (``budget.max_concurrent``): requeued trials first, then suggestions a restart left
   unplaced, then new ones from ``strategy.ask``. The ask is saved before any of its trials exists; each
   suggestion then becomes exactly one trial row (:mod:`~nas_service.orchestration.placement`), and the ones to
   train are submitted (:mod:`~nas_service.orchestration.payloads`) with a latency from the cross-job cache when
   this network was measured before, or the target's prediction where the job's latency mode asks for one. A
   claimed trial whose submission an outage cut (``JobRun.unsubmitted``) is submitted first once it is back.
3. **Events** from the executor: heartbeats (a ``cancelled`` trial read back cancels the attempt), the
   latency (for the pruner), epochs (stored, and fed to the scheduler: ``stop`` prunes), results (stored
   idempotently by the submission's key, latency cached, weights saved, the strategy told) and crashes
   (retried until ``max_attempts``, then ``failed``).
   Every write for a job is fenced by the lease epoch it was claimed with (:mod:`nas_service.storage.fencing`;
   an attempt's events by the epoch it was submitted under): once another dispatcher claimed the job, the
   write is refused and this dispatcher drops the job quietly, cancelling its attempts (:meth:`Dispatcher._lost`).
   A database outage stops nothing: events whose writes failed are kept and replayed in order once the
   database answers, and :meth:`Dispatcher.run` retries ticks with backoff
   (:mod:`~nas_service.orchestration.resilience`); :attr:`Dispatcher.health` says whether it is down.
4. **Sweep**: trials whose heartbeat is older than ``stale_after_s`` become ``stale`` and are retried.
5. **Finish** (:mod:`~nas_service.orchestration.completion`) a job when its budget is spent or the strategy
   has nothing more, and nothing of it runs; then save the strategy's state once if it changed.

Cost per report does not depend on the job's size: a report is one storage write for the result plus, at
most once per step, one write of the strategy's small state; nothing reads all the job's trials except
opening a job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from nas_service.errors import public_error_text
from nas_service.jobspec import TRIAL_TERMINAL, JobState, TrialResult, TrialState
from nas_service.orchestration.blocking import latency_block
from nas_service.orchestration.completion import finish_job, finish_reason
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
)
from nas_service.orchestration.fairness import OwnerQuotas, overdue
from nas_service.orchestration.jobrun import JobRun, outcome_of_record, outcome_state
from nas_service.orchestration.lease import JobLeases, LeaseKeeper
from nas_service.orchestration.opening import DataProbe, open_job
from nas_service.orchestration.payloads import Payloads, resources_key
from nas_service.orchestration.placement import AnyArchitecture, as_trained, place
from nas_service.orchestration.resilience import StorageHealth, is_transient, step_retrying, worth_keeping
from nas_service.orchestration.retries import retry_or_fail
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord
from nas_service.storage.errors import ConflictError, LeaseLostError, NotFoundError, StorageError
from nas_service.storage.fencing import fenced
from nas_service.strategies.base import Outcome, Suggestion

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

_HEARTBEAT_WRITE_S = 2.0


class Dispatcher:
    """Claims jobs and runs their trials on an executor (see the module docstring).

    Args:
        storage: The controller's storage.
        executor: Where attempts run (:class:`workers.executor.RayExecutor`, or the in-process one).
        dispatcher_id: This dispatcher's claim name (default: ``host:pid:random``).
        max_jobs: Jobs driven at once.
        lease_s: Job claim lease; renewed every third of it.
        stale_after_s: Heartbeat age after which a running trial is stale.
        poll_s: How long one :meth:`step` waits for executor events.
        max_skips: Rejected/duplicate candidates in a row after which a job is considered exhausted.
        job_check_s: How often a held job's state is re-read (a cancel through the API shows up then).
        data_dir: The controller's data directory (the filesystem artifact store keeps trained weights under it)
            (default: ``get_settings().data_dir``).
        probe_data: Reads a job's proxy data shape ``(classes, channels)`` here (``None``: learned from results).
        quotas: Per-owner quotas (default: the settings', :meth:`OwnerQuotas.from_settings`).
        unschedulable_after_s: An attempt no worker took within it becomes ``unschedulable`` and fails its job
            (default: the ``unschedulable_after_s`` setting).
        outage_backoff_s: Longest wait between retries while the database is unavailable (the first is 0.25 s,
            doubling, with jitter): bounds how late the dispatcher notices the database is back.
        latency_node_wait_s: How long a job whose latency target has no node stays blocked before it fails
            (default: the ``latency_node_wait_s`` setting).
    """

    def __init__(
        self,
        storage: BaseStorage,
        executor: BaseExecutor,
        dispatcher_id: str | None = None,
        *,
        max_jobs: int = 4,
        lease_s: float = 60.0,
        stale_after_s: float = 120.0,
        poll_s: float = 0.5,
        max_skips: int = 200,
        job_check_s: float = 1.0,
        data_dir: str | os.PathLike[str] | None = None,
        probe_data: DataProbe | None = None,
        quotas: OwnerQuotas | None = None,
        unschedulable_after_s: float | None = None,
        outage_backoff_s: float = 4.0,
        latency_node_wait_s: float | None = None,
    ) -> None:
        self.storage = storage
        self.executor = executor
        self.id = dispatcher_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.max_jobs = max_jobs
        self.lease_s = lease_s
        self.stale_after_s = stale_after_s
        self.poll_s = poll_s
        self.max_skips = max_skips
        self.job_check_s = job_check_s
        from nas_service.settings import get_settings

        settings = get_settings()
        if data_dir is None:
            data_dir = settings.data_dir
        self.quotas = quotas or OwnerQuotas.from_settings(settings, max_jobs)
        self.unschedulable_after_s = unschedulable_after_s or settings.unschedulable_after_s
        self.latency_node_wait_s = latency_node_wait_s or settings.latency_node_wait_s
        self._submitted_at: dict[str, float] = {}  # handle key -> monotonic time of its submission
        self.data_dir = Path(data_dir)
        self.probe_data = probe_data
        self.leases = JobLeases(storage, self.id, lease_s)
        self.jobs: dict[int, JobRun] = {}
        self._by_key: dict[str, tuple[int, int]] = {}  # handle key -> (job id, trial id)
        self._started: set[str] = set()  # handle keys whose first heartbeat was stored
        self._beat_at: dict[str, float] = {}
        self._key_epoch: dict[str, int] = {}  # handle key -> the lease epoch its attempt was submitted under
        self.health = StorageHealth()
        self._keeper: LeaseKeeper | None = None
        self.outage_backoff_s = outage_backoff_s
        self._unwritten: list[ExecutorEvent] = []  # events whose writes failed while the database was down
        self._swept_at = 0.0
        self.payloads = Payloads(storage, self.data_dir)

    # ------------------------------------------------------------------ the loop
    def step(self, timeout: float | None = None) -> int:
        """One tick: claim, fill, handle events, sweep, finish. Returns the number of executor events.

        Raises:
            StorageUnavailable: The database is down (:meth:`run` backs off and retries).
        """
        if not self.health.ok:
            self.storage.ping()  # still down: raises, and the caller backs off
            self.health.mark_ok()
        self._claim_jobs()
        for run in list(self.jobs.values()):
            self._guard(run, self._maintain, run)
        for run in self.quotas.fill_order(self.jobs.values()):
            if self.health.ok:  # no new trials while writes fail
                self._guard(run, self._fill, run)
        kept, self._unwritten = self._unwritten, []
        wait = 0.0 if kept else self.poll_s if timeout is None else timeout
        events = kept + self.executor.poll(timeout=wait)
        for event in events:
            if self._unwritten and worth_keeping(event):  # keep their order behind the first that failed
                self._unwritten.append(event)
                continue
            try:
                self._on_event(event)
            except LeaseLostError:
                self._on_lease_lost(event)
            except StorageError as exc:  # a conflict on one trial must not stop the others
                if is_transient(exc):
                    self.health.mark_down(exc)
                    if worth_keeping(event):
                        self._unwritten.append(event)
                else:
                    log.warning("storage refused %s: %s", type(event).__name__, exc)
            except Exception as exc:  # noqa: BLE001 - one bad event fails its job, never the whole dispatcher
                self._on_event_error(event, exc)
        self._sweep()
        self._find_unschedulable()
        for run in list(self.jobs.values()):
            self._guard(run, self._maybe_finish, run)
            if run.dirty and run.job.id in self.jobs:
                self._guard(run, run.save_state, self.storage)
        return len(events)

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set, then :meth:`close`; a database outage is waited out with backoff.

        Held leases are renewed by a :class:`~nas_service.orchestration.lease.LeaseKeeper` thread meanwhile, so a
        slow tick does not lose them.
        """
        keeper = LeaseKeeper(self.leases)
        self._keeper = keeper
        keeper.start()
        try:
            while not stop.is_set():
                step_retrying(self.step, stop, self.health, max_s=self.outage_backoff_s)
        finally:
            keeper.stop()
            self._keeper = None
            self.close()

    def close(self) -> None:
        """Give the held jobs back: running attempts are cancelled and their trials requeued; claims released."""
        for run in list(self.jobs.values()):
            try:
                with self._fence(run.job.id):
                    self._give_back(run)
            except LeaseLostError:  # another dispatcher holds it now: its trials are its own
                self._lost(run)
            else:
                self._drop(run, release=True)

    def _give_back(self, run: JobRun) -> None:
        given = sorted(run.unsubmitted | set(run.running))  # an unsubmitted claim is given back the same way
        for trial_id, handle in list(run.running.items()):
            self.executor.cancel(handle, grace_s=0.0)
            self._forget(run, trial_id)
        run.unsubmitted.clear()
        for trial_id in given:
            try:
                retry_or_fail(self.storage, run, trial_id, "dispatcher stopped", count_attempt=False)
            except LeaseLostError:
                raise
            except StorageError as exc:
                log.warning("could not requeue trial %s: %s", trial_id, exc)
        try:
            run.save_state(self.storage)
        except LeaseLostError:
            raise
        except StorageError as exc:
            log.warning("job %s: could not save the strategy state: %s", run.job.id, exc)

    def _fence(self, job_id: int, epoch: int | None = None) -> AbstractContextManager[None]:
        """Fence the storage writes made inside by ``job_id``'s lease (default: the epoch this dispatcher holds)."""
        return fenced(job_id, self.leases.epoch_of(job_id) if epoch is None else epoch)

    def _lost(self, run: JobRun) -> None:
        """Another dispatcher claimed ``run``'s job: cancel its attempts and drop it, writing nothing more for it."""
        if self.jobs.get(run.job.id) is not run:
            return
        log.info("job %s: the lease moved to another dispatcher; dropping it", run.job.id)
        for handle in run.running.values():
            self.executor.cancel(handle, grace_s=0.0)
        self._drop(run, release=False)

    def _on_lease_lost(self, event: ExecutorEvent) -> None:
        """A write for ``event`` was refused by the fence: the attempt is not ours to report any more."""
        key = event.handle.key
        where = self._by_key.get(key)
        if where is None:
            return
        run = self.jobs.get(where[0])
        if run is not None and self._key_epoch.get(key) == self.leases.epoch_of(run.job.id):
            self._lost(run)
        else:  # an attempt of an earlier claim of a job held again: stop it, forget it
            self.executor.cancel(event.handle, grace_s=0.0)
        if isinstance(event, FinishedEvent | CrashedEvent):
            self._release_key(key)

    def _guard(self, run: JobRun, fn: Callable[..., object], *args: object) -> None:
        """Run one per-job action under the job's fence; an unexpected error fails that job, not the dispatcher."""
        try:
            with self._fence(run.job.id):
                try:
                    fn(*args)
                except LeaseLostError:
                    raise
                except StorageError as exc:
                    if is_transient(exc):
                        self.health.mark_down(exc)
                    else:
                        log.warning("job %s: storage error: %s", run.job.id, exc)
                except Exception as exc:  # noqa: BLE001 - e.g. a strategy bug: the job fails with the reason
                    log.exception("job %s failed in the dispatcher", run.job.id)
                    self._fail_job(run, f"{type(exc).__name__}: {exc}")
        except LeaseLostError:
            self._lost(run)

    # ------------------------------------------------------------------ jobs
    def _claim_jobs(self) -> None:
        while len(self.jobs) < self.max_jobs:
            held = dict(self.leases.epochs)
            job = self.leases.claim_next(skip_owners=self.quotas.owners_at_job_quota(self.jobs.values()))
            if job is None:
                return
            if self._keeper is not None:
                self._keeper.lost.discard(job.id)  # a fresh claim: whatever the keeper saw before is over
            if job.id in self.jobs:  # our own lease lapsed and we got it back
                if job.lease_epoch == held.get(job.id, -2) + 1:  # nobody held it in between: our attempts stand
                    self.jobs[job.id].job = job
                    for key, (job_id, _) in self._by_key.items():
                        if job_id == job.id:
                            self._key_epoch[key] = job.lease_epoch
                    continue
                self._lost(self.jobs[job.id])  # another dispatcher held it meanwhile: start over
                self.leases.epochs[job.id] = job.lease_epoch
            try:
                with self._fence(job.id):
                    self._start(job)
            except LeaseLostError:
                self.leases.forget(job.id)

    def _start(self, job: JobRecord) -> None:
        try:
            self._open_job(job)
        except LeaseLostError:
            self.jobs.pop(job.id, None)
            raise
        except Exception as exc:  # noqa: BLE001 - a job that cannot start fails with the reason
            log.warning("job %s cannot start: %s", job.id, exc)
            self.jobs.pop(job.id, None)
            try:
                self.storage.transition_job(job.id, JobState.FAILED, error=public_error_text(exc, "job", log))
            except LeaseLostError:
                raise
            except StorageError:
                self.leases.release(job.id)
            else:
                self.leases.forget(job.id)

    def _open_job(self, job: JobRecord) -> None:
        run = open_job(self.storage, job, self.probe_data)
        self.jobs[job.id] = run
        # Trials a dead dispatcher left running (its attempts died with it) are retried.
        for state in (TrialState.RUNNING, TrialState.STALE):
            for trial in self.storage.list_trials(job.id, states=[state], limit=10_000).items:
                retry_or_fail(self.storage, run, trial.id, "its dispatcher was lost")
        run.requeued = self.storage.list_trials(job.id, states=[TrialState.QUEUED], limit=1).total
        run.dirty = True
        log.info("dispatcher %s took job %s (%s)", self.id, job.id, job.spec.strategy.name)

    def _maintain(self, run: JobRun) -> None:
        now = time.monotonic()
        if self._keeper is not None and run.job.id in self._keeper.lost:
            self._keeper.lost.discard(run.job.id)
            self._lost(run)
            return
        if self.leases.renewal_due(run.renewed_at, now):
            try:
                run.job = self.leases.renew(run.job.id)
                run.renewed_at = now
            except ConflictError:
                log.warning("lost the claim on job %s", run.job.id)
                self._abandon(run, release=False)
                return
        if now - run.checked_at >= self.job_check_s:
            run.checked_at = now
            run.job = self.storage.get_job(run.job.id)
            if run.job.state != JobState.RUNNING:  # cancelled (or resumed/failed) through the API
                self._abandon(run, release=True)
                return
            wall = run.job.spec.budget.max_wall_s
            started = run.job.started_at
            spent = wall is not None and started is not None and time.time() - started.timestamp() >= wall
            if spent and not run.out_of_time:
                log.info("job %s reached its wall-time budget", run.job.id)
                run.out_of_time = True
                for handle in run.running.values():
                    self.executor.cancel(handle)

    def _abandon(self, run: JobRun, release: bool) -> None:
        """Stop driving a job: cancel its attempts (late results are still stored) and drop it."""
        for handle in run.running.values():
            self.executor.cancel(handle)
        self._drop(run, release=release)

    def _drop(self, run: JobRun, release: bool) -> None:
        self.jobs.pop(run.job.id, None)
        if release:
            self.leases.release(run.job.id)
        else:
            self.leases.forget(run.job.id)

    def _maybe_finish(self, run: JobRun) -> None:
        if run.job.id not in self.jobs:
            return
        finish = finish_reason(run, self.max_skips, run.requeued)
        if finish is None:
            return
        run.drop_replays()
        state = finish_job(self.storage, run, finish)
        run.save_state(self.storage)
        self._drop(run, release=False)
        log.info("job %s finished: %s (%s)", run.job.id, state.value, finish.why)

    def _fail_job(self, run: JobRun, error: str) -> None:
        for handle in run.running.values():
            self.executor.cancel(handle)
        try:
            with self._fence(run.job.id):
                self.storage.transition_job(run.job.id, JobState.FAILED, error=error[:4000])
        except StorageError as exc:
            log.warning("job %s: cannot mark failed: %s", run.job.id, exc)
        self._drop(run, release=True)

    # ------------------------------------------------------------------ filling slots
    def _fill(self, run: JobRun) -> None:
        if run.job.id not in self.jobs or self._blocked_on_latency(run):
            return
        if run.unplaced:
            self._recover_unplaced(run)
        if run.unsubmitted:
            self._submit_unsubmitted(run)
        if run.out_of_time:
            return
        budget = run.job.spec.budget
        slots = budget.max_concurrent
        room = self.quotas.room(run, self.jobs.values())
        if room is not None:  # the owner's quota of running attempts
            slots = min(slots, len(run.running) + room)
        while run.requeued > 0 and len(run.running) < slots:
            trial = self.storage.claim_trial(run.job.id, self.id)
            if trial is None:
                run.requeued = 0
                break
            run.requeued -= 1
            self._submit_claimed(run, trial)
        while (
            not run.exhausted
            and len(run.running) < slots
            and run.trained < budget.max_trials
            and run.skips < self.max_skips
        ):
            want = min(slots - len(run.running), budget.max_trials - run.trained)
            asked = not run.replay
            if run.replay:  # asked before a restart (or an outage), never placed: they go first, unchanged
                sids, run.replay = run.replay[:want], run.replay[want:]
                suggestions = [run.strategy.pending_suggestion(sid) for sid in sids]
            else:
                if run.strategy.is_exhausted():
                    run.exhausted = True
                    return
                suggestions = run.strategy.ask(want)
                if not suggestions:
                    # Compound scaling asks nothing while its first step is in flight; with nothing in flight,
                    # nothing more will come.
                    run.exhausted = not run.running
                    return
            done = 0
            try:
                if asked:
                    # Durable before any trial row exists: a crash before a trial is created leaves a pending
                    # suggestion with no trial, which the next dispatcher places unchanged.
                    run.save_state(self.storage)
                for suggestion in suggestions:
                    self._place(run, suggestion)
                    done += 1
            except StorageError:
                # The database went away mid-placement: the rest are placed first once it is back (those whose
                # trial row was written before the error are recognised then, not placed twice).
                run.unplaced = [s.suggestion_id for s in suggestions[done:]]
                raise

    def _blocked_on_latency(self, run: JobRun) -> bool:
        """Whether ``run`` waits for a latency node (:mod:`~nas_service.orchestration.blocking`); failed when the
        wait is over."""
        blocked, failure = latency_block(run, self.executor, self.storage, self.latency_node_wait_s)
        if failure is not None:
            self._fail_job(run, failure)
        return blocked

    def _recover_unplaced(self, run: JobRun) -> None:
        """After an outage: suggestions with no trial row yet go first to placement; those written are mapped."""
        from nas_service.orchestration.jobrun import all_trials

        by_sid = {t.suggestion_id: t for t in all_trials(self.storage, run.job.id) if t.suggestion_id}
        missing = []
        for sid in run.unplaced:
            trial = by_sid.get(sid)
            if trial is None:
                missing.append(sid)
                continue
            # Written before the error (perhaps only its answer was lost): recognised, never placed twice.
            counted = trial.id in run.suggestion_of
            if trial.state in TRIAL_TERMINAL:  # rejected or a duplicate: the strategy learns it as stored
                if sid in run.strategy.pending:
                    run.strategy.tell(sid, outcome_of_record(trial))
                    run.dirty = True
                continue
            run.suggestion_of[trial.id] = sid
            if trial.state == TrialState.RUNNING and trial.id not in run.running:  # claimed, never submitted
                run.unsubmitted.add(trial.id)
                if not counted:
                    run.trained += 1
        run.replay = missing + [sid for sid in run.replay if sid not in missing]
        run.unplaced = []

    def _submit_unsubmitted(self, run: JobRun) -> None:
        """Claimed trials an outage kept from the executor: submitted at the attempt they were claimed for (or,
        once the job's time is up, given back to ``queued`` without using an attempt)."""
        for trial_id in sorted(run.unsubmitted):
            trial = self.storage.get_trial(trial_id)
            if trial.state != TrialState.RUNNING or trial_id in run.running:
                run.unsubmitted.discard(trial_id)
            elif run.out_of_time:
                retry_or_fail(self.storage, run, trial_id, "not started: the job's time was up", count_attempt=False)
                run.unsubmitted.discard(trial_id)
            else:
                self._submit_claimed(run, trial)

    def _place(self, run: JobRun, suggestion: Suggestion) -> None:
        """One suggestion, judged as it will be trained: its one trial row, submitted when it is to train."""
        arch = as_trained(suggestion.architecture, run, self.payloads.signature(run))
        trial = place(self.storage, run, suggestion, arch, self.id)
        if trial is not None:
            self._submit_claimed(run, trial, arch)

    def _submit_claimed(self, run: JobRun, trial: TrialRecord, arch: AnyArchitecture | None = None) -> None:
        """Submit a trial this dispatcher has just claimed. Until the executor has it, it is ``run.unsubmitted``:
        a storage error on the way (the database went away) leaves it there to be submitted once the database
        is back, never a ``running`` row with no attempt behind it."""
        run.unsubmitted.add(trial.id)
        self._submit(run, trial, arch)
        run.unsubmitted.discard(trial.id)

    def _submit(self, run: JobRun, trial: TrialRecord, arch: AnyArchitecture | None = None) -> None:
        payload, runner, arch_hash = self.payloads.payload(run, trial, arch)
        handle = self.executor.submit(payload, resources=run.job.spec.resources, runner=runner)
        self._track(run, trial.id, arch_hash, handle)

    def _track(self, run: JobRun, trial_id: int, arch_hash: str, handle: TrialHandle) -> None:
        """A submitted attempt: its job's running set, its events' routing, its submit time and lease epoch."""
        run.start(trial_id, arch_hash, handle)
        self._by_key[handle.key] = (run.job.id, trial_id)
        self._submitted_at[handle.key] = time.monotonic()
        epoch = self.leases.epoch_of(run.job.id)
        if epoch is not None:
            self._key_epoch[handle.key] = epoch

    # ------------------------------------------------------------------ events
    def _on_event_error(self, event: ExecutorEvent, exc: Exception) -> None:
        """An unexpected error while handling ``event``: fail that event's job with the reason, keep the rest."""
        log.error("handling %s failed: %s: %s", type(event).__name__, type(exc).__name__, exc)
        log.debug("traceback", exc_info=exc)
        where = self._by_key.get(event.handle.key)
        run = self.jobs.get(where[0]) if where else None
        if run is not None:
            self._fail_job(run, f"while handling {type(event).__name__}: {public_error_text(exc, 'event', log)}")

    def _on_event(self, event: ExecutorEvent) -> None:
        where = self._by_key.get(event.handle.key)
        if where is None:
            return
        with self._fence(where[0], self._key_epoch.get(event.handle.key, -1)):
            self._on_attempt_event(event, where)

    def _on_attempt_event(self, event: ExecutorEvent, where: tuple[int, int]) -> None:
        job_id, trial_id = where
        run = self.jobs.get(job_id)
        handle = event.handle
        if isinstance(event, HeartbeatEvent):
            if handle.key not in self._started:
                self.storage.start_trial(
                    trial_id, handle.attempt, f"{event.node_ip}:{event.pid}", f"{event.node_ip}/{event.node_id}", None
                )
                self._started.add(handle.key)
                self._beat_at[handle.key] = time.monotonic()
                return
            now = time.monotonic()
            if now - self._beat_at.get(handle.key, 0.0) >= _HEARTBEAT_WRITE_S:
                self._beat_at[handle.key] = now
                if self.storage.heartbeat(trial_id, handle.attempt) == TrialState.CANCELLED:
                    self.executor.cancel(handle)
        elif isinstance(event, LatencyEvent):
            if run is not None:
                run.latency_ms[trial_id] = event.latency.median_ms
        elif isinstance(event, EpochEvent):
            # The attempt makes a late epoch from a lost earlier attempt harmless (storage ignores it).
            self.storage.report_epoch(trial_id, event.report, attempt=handle.attempt)
            if run is not None and run.scheduler is not None:
                decision = run.scheduler.on_epoch(
                    str(trial_id), event.report.epoch, event.report.val_accuracy, run.latency_ms.get(trial_id)
                )
                if decision.stop:
                    self.executor.prune(handle)
        elif isinstance(event, CheckpointEvent):
            from nas_service.artifacts import save_trial_checkpoint

            save_trial_checkpoint(self.storage, self.data_dir, trial_id, event.data)
        elif isinstance(event, FinishedEvent):
            self._on_finished(run, trial_id, event)
        elif isinstance(event, CrashedEvent):
            if run is not None:  # written first: a failed write keeps the event for a replay
                retry_or_fail(self.storage, run, trial_id, f"worker lost: {event.error}")
                self._forget(run, trial_id)
            self._release_key(handle.key)

    def _on_finished(self, run: JobRun | None, trial_id: int, event: FinishedEvent) -> None:
        # The key is released once everything is written: a write that fails keeps the event for a replay
        # (the report is idempotent by the attempt's key).
        handle, result, detail = event.handle, event.result, event.run
        stored = self.storage.report_trial(trial_id, handle.attempt, result, report_key=handle.key)
        if detail is not None and detail.weights and result.state in (TrialState.COMPLETED, TrialState.PRUNED):
            self._save_weights(trial_id, detail.weights, detail.preprocessing)
        if run is None:
            self._release_key(handle.key)
            return
        self.payloads.learn(run, result, detail, stored.architecture)
        self._forget(run, trial_id)
        outcome = Outcome(
            state=outcome_state(result.state),
            accuracy=result.accuracy,
            latency_ms=result.latency.median_ms if result.latency else None,
            reward=stored.reward,
            params=result.params,
            macs=result.macs,
            epochs=result.epochs_run,
            reference_latency_ms=result.latency.reference_ms if result.latency else None,
        )
        self._release_key(handle.key)
        run.tell(trial_id, outcome)

    def _save_weights(self, trial_id: int, weights: bytes, preprocessing: dict[str, Any] | None = None) -> None:
        """The one place trained weights (and what their input is) are written: the artifact store the API
        serves them from."""
        from nas_service.artifacts import save_trial_preprocessing, save_trial_weights

        if save_trial_weights(self.storage, self.data_dir, trial_id, weights) and preprocessing:
            save_trial_preprocessing(self.storage, self.data_dir, trial_id, preprocessing)

    def _forget(self, run: JobRun, trial_id: int) -> None:
        handle = run.forget(trial_id)
        if handle is not None:
            self._release_key(handle.key)

    def _release_key(self, key: str) -> None:
        self._by_key.pop(key, None)
        self._key_epoch.pop(key, None)
        self._submitted_at.pop(key, None)
        self._started.discard(key)
        self._beat_at.pop(key, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < max(1.0, self.stale_after_s / 4):
            return
        self._swept_at = now
        for run in list(self.jobs.values()):
            self._guard(run, self._beat_queued, run)
        for trial_id in self.storage.mark_stale_trials(self.stale_after_s):
            try:
                trial = self.storage.get_trial(trial_id)
            except NotFoundError:
                continue
            held = self.jobs.get(trial.job_id)
            if held is None:
                continue  # another dispatcher's trial: its owner (or the next claimant) handles it
            attempt = held.running.get(trial_id)
            if attempt is not None:
                self.executor.cancel(attempt, grace_s=0.0)
                self._forget(held, trial_id)
            self._guard(held, retry_or_fail, self.storage, held, trial_id, f"no heartbeat for {self.stale_after_s:g} s")

    def _find_unschedulable(self) -> None:
        """Attempts no worker took within ``unschedulable_after_s``: their trials and jobs fail with the reason."""
        late = overdue(self._submitted_at, self._started, time.monotonic(), self.unschedulable_after_s)
        for key in late:
            where = self._by_key.get(key)
            run = self.jobs.get(where[0]) if where else None
            if where is None or run is None or where[1] not in run.running:
                self._submitted_at.pop(key, None)
                continue
            self._guard(run, self._unschedulable, run, where[1])

    def _unschedulable(self, run: JobRun, trial_id: int) -> None:
        handle = run.running[trial_id]
        resources = resources_key(run.job.spec.resources)
        why = (
            f"unschedulable: no worker could take trial {trial_id} within {self.unschedulable_after_s:g} s "
            f"(resources {resources})"
        )
        log.warning("job %s: %s", run.job.id, why)
        self.executor.cancel(handle, grace_s=0.0)
        result = TrialResult(state=TrialState.UNSCHEDULABLE, error=why)
        self.storage.report_trial(trial_id, handle.attempt, result, report_key=f"unschedulable:{handle.key}")
        self._forget(run, trial_id)
        self._fail_job(run, why)

    def _beat_queued(self, run: JobRun) -> None:
        """Attempts still waiting in the executor's queue send no heartbeats yet: they are alive, not stale."""
        for trial_id, handle in run.running.items():
            if handle.key not in self._started:
                self.storage.heartbeat(trial_id, handle.attempt)

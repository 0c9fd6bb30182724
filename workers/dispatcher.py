"""The dispatcher: drives claimed jobs from the database through a strategy onto the Ray executor.

One loop (:meth:`Dispatcher.step`) per tick, single-threaded, so no lock guards its state:

1. **Claim** queued jobs (or running ones whose lease expired: their dispatcher died) up to ``max_jobs``, and
   renew the lease of the ones held. Opening a job builds its strategy and multi-fidelity scheduler, restores
   their saved state and recovers trials a dead dispatcher left ``running``/``stale`` (retried, or failed
   after ``max_attempts``).
2. **Fill** free slots (``budget.max_concurrent``): requeued trials first, then new candidates from
   ``strategy.ask``. Each candidate is first turned into the network *as trained*: the proxy data's classes
   and channels, and the proxy resolution unless the job searches resolution (its space has several
   ``resolutions`` or ``phis``, or it is a compound-scaling job), in which case the candidate keeps its own.
   Caps, de-duplication, the stored architecture and its params/MACs and the worker's payload all use that
   network. A candidate over the job's caps is stored ``rejected`` and told so; one whose network
   already completed in this job is stored ``duplicate`` with the earlier result (or, while the first copy
   still trains, without values). Every other candidate becomes a trial, is claimed (attempt ``n``) and
   submitted, with a latency from the cross-job cache when this network was measured on this device before.
3. **Events** from :class:`~workers.executor.RayExecutor`: heartbeats (first one records node and worker;
   a ``cancelled`` trial state read back cancels the attempt), the latency (for the pruner), epochs (stored,
   and fed to the scheduler: ``stop`` prunes), results (stored idempotently by the submission's key; latency
   cached; trained weights saved under ``<data_dir>/artifacts/trials/<id>/weights.pt`` for ``nas export``;
   the strategy told) and crashes (retried until ``max_attempts``, then ``failed``).
4. **Sweep**: trials whose heartbeat is older than ``stale_after_s`` become ``stale`` and are retried.
5. **Finish** a job when its budget (trials or wall time) is spent, or the strategy has nothing more, and
   nothing of it runs: ``completed`` (``failed`` if every trained trial failed).

The strategy's state, the trial -> suggestion map and the scheduler's state are saved after every change, so
a restarted dispatcher resumes where the dead one stopped. Retries are counted in the trial's ``attempts``.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from nas_service.arch.spec import Architecture
from nas_service.jobspec import (
    TRIAL_TERMINAL,
    JobState,
    LatencyMeasurement,
    ProxyConfig,
    TrialResult,
    TrialState,
)
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord
from nas_service.storage.errors import ConflictError, NotFoundError, StorageError
from workers.data import DatasetError, dataset_signature
from workers.executor import (
    CrashedEvent,
    EpochEvent,
    ExecutorEvent,
    FinishedEvent,
    HeartbeatEvent,
    LatencyEvent,
)
from workers.jobrun import JobRun, cached_latency, outcome_state
from workers.trial import TrialPayload

__all__ = ["Dispatcher", "EmbeddedDispatcher", "start_embedded"]

log = logging.getLogger(__name__)

_TRAINED_STATES: list[TrialState] = [s for s in TrialState if s not in (TrialState.REJECTED, TrialState.DUPLICATE)]


class Dispatcher:
    """Claims jobs and runs their trials on an executor (see the module docstring).

    Args:
        storage: The controller's storage.
        executor: A :class:`~workers.executor.RayExecutor` (or anything with its ``submit``/``poll``/``cancel``/
            ``prune``/``shutdown``).
        dispatcher_id: This dispatcher's claim name (default: ``host:pid:random``).
        max_jobs: Jobs driven at once.
        lease_s: Job claim lease; renewed every third of it.
        stale_after_s: Heartbeat age after which a running trial is stale.
        poll_s: How long one :meth:`step` waits for executor events.
        max_skips: Rejected/duplicate candidates in a row after which a job is considered exhausted.
        job_check_s: How often a held job's state is re-read (a cancel through the API shows up then).
        data_dir: The controller's data directory; trained weights go under its ``artifacts/trials``
            (default: ``get_settings().data_dir``).
    """

    def __init__(
        self,
        storage: BaseStorage,
        executor: Any,
        dispatcher_id: str | None = None,
        *,
        max_jobs: int = 4,
        lease_s: float = 60.0,
        stale_after_s: float = 120.0,
        poll_s: float = 0.5,
        max_skips: int = 200,
        job_check_s: float = 1.0,
        data_dir: str | os.PathLike[str] | None = None,
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
        if data_dir is None:
            from nas_service.settings import get_settings

            data_dir = get_settings().data_dir
        self.data_dir = Path(data_dir)
        self.jobs: dict[int, JobRun] = {}
        self._by_key: dict[str, tuple[int, int]] = {}  # handle key -> (job id, trial id)
        self._started: set[str] = set()  # handle keys whose first heartbeat was stored
        self._beat_at: dict[str, float] = {}
        self._swept_at = 0.0
        self._data_shapes: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._latency_device: dict[str, str] = {}

    # ------------------------------------------------------------------ the loop
    def step(self, timeout: float | None = None) -> int:
        """One tick: claim, fill, handle events, sweep, finish. Returns the number of executor events."""
        self._claim_jobs()
        for run in list(self.jobs.values()):
            self._guard(run, self._maintain, run)
        for run in list(self.jobs.values()):
            self._guard(run, self._fill, run)
        events = self.executor.poll(timeout=self.poll_s if timeout is None else timeout)
        for event in events:
            try:
                self._on_event(event)
            except StorageError as exc:  # a conflict on one trial must not stop the others
                log.warning("storage refused %s: %s", type(event).__name__, exc)
            except Exception as exc:  # noqa: BLE001 - one bad event fails its job, never the whole dispatcher
                self._on_event_error(event, exc)
        self._sweep()
        for run in list(self.jobs.values()):
            self._guard(run, self._maybe_finish, run)
            if run.dirty:
                run.save_state(self.storage)
        return len(events)

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set, then :meth:`close`."""
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        """Give the held jobs back: running attempts are cancelled and their trials requeued; claims released."""
        for run in list(self.jobs.values()):
            for trial_id, handle in list(run.running.items()):
                self.executor.cancel(handle, grace_s=0.0)
                self._forget(run, trial_id)
                try:
                    self._retry_or_fail(run, trial_id, "dispatcher stopped", count_attempt=False)
                except StorageError as exc:
                    log.warning("could not requeue trial %s: %s", trial_id, exc)
            run.save_state(self.storage)
            self._drop(run, release=True)

    def _guard(self, run: JobRun, fn: Any, *args: Any) -> None:
        """Run one per-job action; an unexpected error fails that job, not the dispatcher."""
        try:
            fn(*args)
        except StorageError as exc:
            log.warning("job %s: storage error: %s", run.job.id, exc)
        except Exception as exc:  # noqa: BLE001 - e.g. a strategy bug: the job fails with the reason
            log.exception("job %s failed in the dispatcher", run.job.id)
            self._fail_job(run, f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ jobs
    def _claim_jobs(self) -> None:
        while len(self.jobs) < self.max_jobs:
            job = self.storage.claim_job(self.id, self.lease_s)
            if job is None:
                return
            if job.id in self.jobs:  # our own lease lapsed and we got it back
                self.jobs[job.id].job = job
                continue
            try:
                self._open_job(job)
            except Exception as exc:  # noqa: BLE001 - a job that cannot start fails with the reason
                log.warning("job %s cannot start: %s", job.id, exc)
                try:
                    self.storage.transition_job(job.id, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
                except StorageError:
                    self.storage.release_job(job.id, self.id)

    def _open_job(self, job: JobRecord) -> None:
        from nas_service.strategies import make_scheduler, make_strategy

        spec = job.spec
        # Whether the candidates' own resolution is trained: compound scaling searches it (scaled from the
        # proxy's resolution); a space does when it has several resolution or phi choices.
        searches_resolution = True
        if job.kind == "scaling":
            strategy = make_strategy(
                spec.strategy.model_copy(update={"name": "compound-scaling"}),
                None,
                spec.reward,
                scaling=self._resolve_scaling(job),
            )
        else:
            from nas_service.space import SearchSpace

            if job.space_id is None:
                raise ValueError("a search job needs a search space")
            space = SearchSpace.from_dict(self.storage.get_space(job.space_id).body)
            strategy = make_strategy(spec.strategy, space, spec.reward)
            searches_resolution = len(space.resolutions) > 1 or len(space.phis) > 1
        scheduler = make_scheduler(
            spec.strategy, spec.proxy.epochs, strategy.objectives, multi_objective=strategy.multi_objective
        )
        run = JobRun(job=job, strategy=strategy, scheduler=scheduler, searches_resolution=searches_resolution)
        try:
            run.data_signature = dataset_signature(spec.proxy)
        except DatasetError as exc:  # the data may live on the workers only: learn it from the first result
            log.warning("job %s: cannot read the proxy data here (%s); its shape is learned from results", job.id, exc)
        run.trained = self.storage.list_trials(job.id, states=_TRAINED_STATES, limit=1).total
        run.restore_state(self.storage)
        self.jobs[job.id] = run
        # Trials a dead dispatcher left running (its Ray tasks died with it) are retried.
        for state in (TrialState.RUNNING, TrialState.STALE):
            for trial in self.storage.list_trials(job.id, states=[state], limit=10_000).items:
                self._retry_or_fail(run, trial.id, "its dispatcher was lost")
        run.dirty = True
        log.info("dispatcher %s took job %s (%s)", self.id, job.id, spec.strategy.name)

    def _resolve_scaling(self, job: JobRecord) -> Any:
        from nas_service.strategies import resolve_base

        scaling = job.spec.scaling
        assert scaling is not None  # JobSpec validates it for scaling jobs
        base = scaling.base
        if isinstance(base, str) and base.isdigit():  # a trial id: its network
            trial = self.storage.get_trial(int(base))
            if trial.architecture is None:
                raise ValueError(f"trial {base} has no architecture to scale")
            base = Architecture.model_validate(trial.architecture)
        # Coefficients scale the proxy's resolution, not the deployment one.
        resolved = resolve_base(base, {"resolution": job.spec.proxy.resolution})
        return scaling.model_copy(update={"base": resolved})

    def _maintain(self, run: JobRun) -> None:
        now = time.monotonic()
        if now - run.renewed_at >= self.lease_s / 3:
            try:
                run.job = self.storage.renew_lease(run.job.id, self.id, self.lease_s)
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
            if wall is not None and started is not None:
                elapsed = time.time() - started.timestamp()
                if elapsed >= wall and not run.out_of_time:
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
            self.storage.release_job(run.job.id, self.id)

    def _maybe_finish(self, run: JobRun) -> None:
        if run.running or run.job.id not in self.jobs:
            return
        budget = run.job.spec.budget
        queued = self.storage.list_trials(run.job.id, states=[TrialState.QUEUED], limit=1).total
        done = run.out_of_time or run.exhausted or run.trained >= budget.max_trials or run.skips >= self.max_skips
        if queued and not run.out_of_time:  # requeued retries still to run
            return
        if not done:
            return
        run.drop_replays()
        job = self.storage.get_job(run.job.id)
        if job.trials_completed == 0 and job.trials_failed > 0 and job.trials_pruned == 0:
            last = self.storage.list_trials(job.id, states=[TrialState.FAILED], order="desc", limit=1).items
            reason = last[0].error if last and last[0].error else "unknown error"
            error = f"all {job.trials_failed} trials failed; last: {reason}"[:4000]
            self.storage.transition_job(job.id, JobState.FAILED, JobState.RUNNING, error=error)
        else:
            self.storage.transition_job(job.id, JobState.COMPLETED, JobState.RUNNING)
        run.save_state(self.storage)
        self._drop(run, release=False)
        log.info("job %s finished", job.id)

    def _fail_job(self, run: JobRun, error: str) -> None:
        for handle in run.running.values():
            self.executor.cancel(handle)
        try:
            self.storage.transition_job(run.job.id, JobState.FAILED, error=error[:4000])
        except StorageError as exc:
            log.warning("job %s: cannot mark failed: %s", run.job.id, exc)
        self._drop(run, release=True)

    # ------------------------------------------------------------------ filling slots
    def _fill(self, run: JobRun) -> None:
        if run.job.id not in self.jobs or run.out_of_time:
            return
        budget = run.job.spec.budget
        while len(run.running) < budget.max_concurrent:
            trial = self.storage.claim_trial(run.job.id, self.id)
            if trial is None:
                break
            self._submit(run, trial)
        while (
            not run.exhausted
            and len(run.running) < budget.max_concurrent
            and run.trained < budget.max_trials
            and run.skips < self.max_skips
        ):
            if run.strategy.is_exhausted():
                run.exhausted = True
                return
            want = min(budget.max_concurrent - len(run.running), budget.max_trials - run.trained)
            if run.replay:  # asked before a restart, never placed: they go first, unchanged
                sids, run.replay = run.replay[:want], run.replay[want:]
                suggestions = [run.strategy.pending_suggestion(sid) for sid in sids]
            else:
                suggestions = run.strategy.ask(want)
            if not suggestions:
                # Compound scaling asks nothing while its first step is in flight; with nothing in flight,
                # nothing more will come.
                run.exhausted = not run.running
                return
            # Durable before any trial row exists, then again once placed (not after the executor poll): a crash
            # in between leaves at most trials that restore_state can adopt by their parameters.
            run.save_state(self.storage)
            for suggestion in suggestions:
                self._place(run, suggestion)
            run.save_state(self.storage)

    def _signature(self, run: JobRun) -> tuple[int, int] | None:
        """``(classes, channels)`` of the job's proxy data: read here, else learned from a result, else unknown."""
        if run.data_signature is not None:
            return run.data_signature
        proxy = run.job.spec.proxy
        return self._data_shapes.get((proxy.dataset, proxy.data_path))

    def _as_trained(self, run: JobRun, arch: Architecture) -> Architecture:
        """The network a worker trains for ``arch``: the proxy's data shape, and its resolution unless searched.

        Idempotent, so a stored (already as-trained) architecture maps to itself.
        """
        update: dict[str, Any] = {}
        if not run.searches_resolution:
            update["resolution"] = run.job.spec.proxy.resolution
        signature = self._signature(run)
        if signature is not None:
            update["num_classes"], update["in_channels"] = signature
        return arch.model_copy(update=update) if update else arch

    def _place(self, run: JobRun, suggestion: Any) -> None:
        """Reject, de-duplicate or create, claim and submit one candidate (judged as it will be trained)."""
        from nas_service.arch.profile import count_macs, count_params
        from nas_service.latency.gate import predicted_over
        from nas_service.strategies import Outcome

        job = run.job
        arch = self._as_trained(run, suggestion.architecture)
        caps = job.spec.constraints
        params_count, macs = count_params(arch), count_macs(arch, arch.resolution)
        over = []
        if caps.max_params is not None and params_count > caps.max_params:
            over.append(f"params {params_count} > max_params {caps.max_params}")
        if caps.max_macs is not None and macs > caps.max_macs:
            over.append(f"MACs {macs} > max_macs {caps.max_macs}")
        over += predicted_over(self.storage, job.spec, arch)  # latency.mode: predict-then-measure
        if over:
            self.storage.create_trial(
                job.id, suggestion.params, arch, state=TrialState.REJECTED, params_count=params_count, macs=macs,
                error="over the job's caps: " + "; ".join(over),
            )  # fmt: skip
            run.strategy.tell(suggestion.suggestion_id, Outcome(state="rejected", params=params_count, macs=macs))
            run.skips += 1
            return
        arch_hash = arch.arch_hash()
        earlier = self.storage.find_completed_trial(job.id, arch_hash)
        if earlier is not None:
            trial = self.storage.create_trial(job.id, suggestion.params, arch, params_count=params_count, macs=macs)
            latency = LatencyMeasurement.model_validate(earlier.latency) if earlier.latency else None
            result = TrialResult(
                state=TrialState.DUPLICATE, accuracy=earlier.accuracy, latency=latency, params=earlier.params_count,
                macs=earlier.macs, epochs_run=earlier.epochs_run, error=f"duplicate of trial #{earlier.number}",
            )  # fmt: skip
            self.storage.report_trial(trial.id, 0, result, f"duplicate:{trial.id}")
            duplicate = Outcome(
                state="duplicate", accuracy=earlier.accuracy, latency_ms=earlier.latency_ms, reward=earlier.reward,
                params=earlier.params_count, macs=earlier.macs, epochs=earlier.epochs_run,
            )  # fmt: skip
            run.strategy.tell(suggestion.suggestion_id, duplicate)
            run.skips += 1
            return
        if arch_hash in run.inflight:
            self.storage.create_trial(
                job.id, suggestion.params, arch, state=TrialState.DUPLICATE, params_count=params_count, macs=macs,
                error=f"duplicate of trial {run.inflight[arch_hash]} (still running)",
            )  # fmt: skip
            run.strategy.tell(suggestion.suggestion_id, Outcome(state="duplicate"))
            run.skips += 1
            return
        trial = self.storage.create_trial(job.id, suggestion.params, arch, params_count=params_count, macs=macs)
        run.suggestion_of[trial.id] = suggestion.suggestion_id
        run.trained += 1
        run.skips = 0
        claimed = self.storage.claim_trial(job.id, self.id)
        if claimed is not None:
            self._submit(run, claimed)

    def _submit(self, run: JobRun, trial: TrialRecord) -> None:
        spec = run.job.spec
        if trial.architecture is None:
            raise ValueError(f"trial {trial.id} has no architecture")
        # Stored as trained already; mapped again for trials stored before that (or before the shape was known).
        arch = self._as_trained(run, Architecture.model_validate(trial.architecture))
        proxy = spec.proxy.model_copy(update={"resolution": arch.resolution})
        payload = TrialPayload(
            trial_id=trial.id,
            job_id=run.job.id,
            attempt=trial.attempts,
            architecture=arch,
            proxy=proxy,
            latency=spec.latency,
            reward=spec.reward,
            cached_latency=self._cached_latency(run, arch, proxy),
        )
        handle = self.executor.submit(payload, resources=spec.resources)
        run.running[trial.id] = handle
        run.inflight[arch.arch_hash()] = trial.id
        self._by_key[handle.key] = (run.job.id, trial.id)

    def _cached_latency(self, run: JobRun, arch: Architecture, proxy: ProxyConfig) -> LatencyMeasurement | None:
        spec = run.job.spec
        shape = self._signature(run)
        device = self._latency_device.get(_resources_key(spec.resources))
        if shape is None or device is None:
            return None
        return cached_latency(self.storage, arch, proxy, spec.latency, shape, device)

    # ------------------------------------------------------------------ events
    def _on_event_error(self, event: ExecutorEvent, exc: Exception) -> None:
        """An unexpected error while handling ``event``: fail that event's job with the reason, keep the rest."""
        log.error("handling %s failed: %s: %s", type(event).__name__, type(exc).__name__, exc)
        log.debug("traceback", exc_info=exc)
        where = self._by_key.get(event.handle.key)
        run = self.jobs.get(where[0]) if where else None
        if run is not None:
            self._fail_job(run, f"{type(exc).__name__} while handling {type(event).__name__}: {exc}")

    def _on_event(self, event: ExecutorEvent) -> None:
        where = self._by_key.get(event.handle.key)
        if where is None:
            return
        job_id, trial_id = where
        run = self.jobs.get(job_id)
        handle = event.handle
        if isinstance(event, HeartbeatEvent):
            if handle.key not in self._started:
                self._started.add(handle.key)
                self.storage.start_trial(
                    trial_id, handle.attempt, f"{event.node_ip}:{event.pid}", f"{event.node_ip}/{event.node_id}", None
                )
            now = time.monotonic()
            if now - self._beat_at.get(handle.key, 0.0) >= 2.0:
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
                run.dirty = True
        elif isinstance(event, FinishedEvent):
            self._on_finished(run, trial_id, event)
        elif isinstance(event, CrashedEvent):
            self._release_key(handle.key)
            if run is not None:
                self._forget(run, trial_id)
                self._retry_or_fail(run, trial_id, f"worker lost: {event.error}")

    def _on_finished(self, run: JobRun | None, trial_id: int, event: FinishedEvent) -> None:
        from nas_service.strategies import Outcome

        handle, result, detail = event.handle, event.result, event.run
        self._release_key(handle.key)
        stored = self.storage.report_trial(trial_id, handle.attempt, result, report_key=handle.key)
        if detail is not None and detail.weights and result.state in (TrialState.COMPLETED, TrialState.PRUNED):
            self._save_weights(trial_id, detail.weights)
        if detail is not None and detail.num_classes and detail.input_shape:
            payload_proxy = run.job.spec.proxy if run is not None else None
            if payload_proxy is not None:
                key = (payload_proxy.dataset, payload_proxy.data_path)
                self._data_shapes[key] = (detail.num_classes, detail.input_shape[0])
        if result.latency is not None and run is not None:
            self._latency_device[_resources_key(run.job.spec.resources)] = result.latency.device
            if detail is not None and detail.latency_key and detail.measured_arch_hash and detail.input_shape:
                from workers.latency import runtime_key

                self.storage.put_latency(
                    detail.latency_key, detail.measured_arch_hash, detail.input_shape,
                    runtime_key(result.latency.device), result.latency,
                )  # fmt: skip
            if detail is not None:  # the job's target predictor learns from every stable measurement
                from nas_service.latency.gate import learn_from_trial

                learn_from_trial(
                    self.storage, run.job.spec, stored.architecture, detail.input_shape, detail.num_classes,
                    result.latency,
                )  # fmt: skip
        if run is None:
            return
        self._forget(run, trial_id)
        state = result.state
        outcome = Outcome(
            state=outcome_state(state),
            accuracy=result.accuracy,
            latency_ms=result.latency.median_ms if result.latency else None,
            reward=stored.reward,
            params=result.params,
            macs=result.macs,
            epochs=result.epochs_run,
        )
        run.tell(trial_id, outcome)

    def _save_weights(self, trial_id: int, weights: bytes) -> None:
        """Write a trial's trained weights where the artifacts route serves them (atomically: temp + replace)."""
        from nas_service.export import trial_weights_path

        path = trial_weights_path(self.data_dir, str(trial_id))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(weights)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # the trial's result is stored; only its export loses the trained weights
            log.warning("trial %s: cannot save its weights to %s: %s", trial_id, path, exc)

    def _forget(self, run: JobRun, trial_id: int) -> None:
        handle = run.forget(trial_id)
        if handle is not None:
            self._release_key(handle.key)

    def _release_key(self, key: str) -> None:
        self._by_key.pop(key, None)
        self._started.discard(key)
        self._beat_at.pop(key, None)

    def _retry_or_fail(self, run: JobRun, trial_id: int, error: str, count_attempt: bool = True) -> None:
        """Requeue a lost attempt's trial, or fail it after ``max_attempts`` attempts (and tell the strategy)."""
        from nas_service.strategies import Outcome

        trial = self.storage.get_trial(trial_id)
        if trial.state in TRIAL_TERMINAL or trial.state == TrialState.QUEUED:
            return
        max_attempts = run.job.spec.budget.max_attempts
        final = count_attempt and trial.attempts >= max_attempts
        message = f"attempt {trial.attempts}: {error}"
        if final:
            message = f"failed after {trial.attempts} attempts; last: {error}"
        if trial.state == TrialState.RUNNING or final:
            lost = TrialResult(state=TrialState.FAILED, error=message[:20_000], epochs_run=trial.epochs_run)
            self.storage.report_trial(trial.id, trial.attempts, lost, f"lost:{trial.id}:{trial.attempts}")
        if final:
            run.tell(trial_id, Outcome(state="failed"))
        else:
            self.storage.requeue_trial(trial.id)
        run.dirty = True

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < max(1.0, self.stale_after_s / 4):
            return
        self._swept_at = now
        # Attempts still waiting in Ray's queue send no heartbeats yet; they are alive, not stale.
        for run in self.jobs.values():
            for trial_id, handle in run.running.items():
                if handle.key not in self._started:
                    self.storage.heartbeat(trial_id, handle.attempt)
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
            self._retry_or_fail(held, trial_id, f"no heartbeat for {self.stale_after_s:g} s")


def _resources_key(resources: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(resources.items()))


class EmbeddedDispatcher:
    """A dispatcher running in a daemon thread of this process (``nas serve``, ``nas demo``).

    Attributes:
        dispatcher: The dispatcher.
        error: Why the loop stopped on its own, if it did.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nas-dispatcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.dispatcher.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - reported through is_alive()/error
            # One line at ERROR; the traceback only at DEBUG (a process without logging config would
            # otherwise print it raw to stderr).
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("the embedded dispatcher stopped: %s", self.error)
            log.debug("the embedded dispatcher's traceback", exc_info=True)

    def is_alive(self) -> bool:
        """Whether the loop still runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop (held jobs are given back), then shut the executor down."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        self.dispatcher.executor.shutdown()


def start_embedded(settings: Any, storage: BaseStorage, **kwargs: Any) -> EmbeddedDispatcher:
    """Start a dispatcher with a Ray executor (``settings.ray_address``, else a local Ray) in a daemon thread.

    Args:
        settings: :class:`nas_service.settings.Settings`.
        storage: The open storage the API uses too.
        **kwargs: Passed to :class:`Dispatcher` (``max_jobs``, ``lease_s``, ...); ``data_dir`` defaults to
            ``settings.data_dir``.

    Returns:
        The running handle; ``stop()`` it on shutdown.
    """
    from workers.executor import RayExecutor

    kwargs.setdefault("data_dir", getattr(settings, "data_dir", None))  # where trained weights are saved
    executor = RayExecutor(address=getattr(settings, "ray_address", None))  # created here: Ray wants this thread
    return EmbeddedDispatcher(Dispatcher(storage, executor, **kwargs))

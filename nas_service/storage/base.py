"""The storage interface: everything the controller, dispatcher and API persist goes through it.

Methods take and return IDs, enums, pydantic contract models (:mod:`nas_service.jobspec`) and the frozen
records of :mod:`nas_service.storage.domain`. Each call is one transaction; state checks happen inside the
database (conditional updates), so several controller replicas may share one Postgres database.

Typical call order for one job (the dispatcher's view):

1. ``claim_job`` (then ``renew_lease`` periodically while driving it),
2. ``load_strategy_state`` / ``create_trial`` / ``save_strategy_state`` as the strategy proposes candidates,
3. ``claim_trial`` -> a worker calls ``start_trial``, ``heartbeat``, ``report_epoch`` and ``report_trial``,
4. ``mark_stale_trials`` + ``requeue_trial`` for lost workers,
5. ``transition_job`` to a terminal state.

Errors: :class:`~nas_service.storage.errors.NotFoundError`, :class:`~nas_service.storage.errors.ConflictError`
(illegal transitions; the message names both states), :class:`~nas_service.storage.errors.IntegrityError`.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from typing import Any, Literal

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture
from nas_service.jobspec import (
    EpochReport,
    JobSpec,
    JobState,
    LatencyMeasurement,
    RewardConfig,
    TrialResult,
    TrialState,
)
from nas_service.latency.targets import LatencyTarget
from nas_service.storage.domain import (
    CreatedToken,
    JobRecord,
    LatencyRecord,
    LatencyTargetRecord,
    Owner,
    RecordPage,
    SchemaStatus,
    SpaceRecord,
    TokenRecord,
    TokenScope,
    TrialColumns,
    TrialMetric,
    TrialRecord,
)

TrialSort = Literal["number", "reward", "accuracy", "latency", "updated"]
SortOrder = Literal["asc", "desc"]


class BaseStorage(abc.ABC):
    """Abstract storage; :class:`~nas_service.storage.sqlalchemy_storage.SQLAlchemyStorage` implements it."""

    # ---------------------------------------------------------------- owners and tokens
    @abc.abstractmethod
    def get_or_create_owner(self, name: str) -> Owner:
        """Return the owner called ``name``, creating it if needed."""

    @abc.abstractmethod
    def create_token(
        self,
        owner: str,
        scope: TokenScope = TokenScope.USER,
        name: str | None = None,
        token: str | None = None,
    ) -> CreatedToken:
        """Create a token for ``owner`` (created if new); the plaintext is returned once and never stored.

        ``token`` registers a given secret instead of generating one.
        """

    @abc.abstractmethod
    def verify_token(self, token: str) -> TokenRecord | None:
        """Look a plaintext token up by its hash; ``None`` when unknown or revoked."""

    @abc.abstractmethod
    def revoke_token(self, token_id: int) -> None:
        """Revoke a token (idempotent)."""

    @abc.abstractmethod
    def list_tokens(self, owner: str | None = None) -> list[TokenRecord]:
        """Tokens (without secrets), optionally of one owner."""

    # ---------------------------------------------------------------- spaces
    @abc.abstractmethod
    def create_space(
        self, owner: str, name: str, body: dict[str, Any], log10_cardinality: float | None = None
    ) -> SpaceRecord:
        """Store a search space; its version is one more than the last (owner, name) version."""

    @abc.abstractmethod
    def get_space(self, space_id: int) -> SpaceRecord:
        """One space, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def list_spaces(
        self,
        owner: str | None = None,
        name: str | None = None,
        include_archived: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RecordPage[SpaceRecord]:
        """Spaces, newest first."""

    @abc.abstractmethod
    def update_space(self, space_id: int, body: dict[str, Any], log10_cardinality: float | None = None) -> SpaceRecord:
        """Replace a space's body; :class:`ConflictError` once a job references it (create a new version)."""

    @abc.abstractmethod
    def archive_space(self, space_id: int) -> SpaceRecord:
        """Mark a space archived (no new jobs may use it); idempotent."""

    # ---------------------------------------------------------------- jobs
    @abc.abstractmethod
    def create_job(self, owner: str, space_id: int | None, spec: JobSpec) -> JobRecord:
        """Queue a job on a (not archived) space; ``None`` for a scaling job, which needs no space."""

    @abc.abstractmethod
    def get_job(self, job_id: int) -> JobRecord:
        """One job, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def list_jobs(
        self,
        owner: str | None = None,
        states: list[JobState] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RecordPage[JobRecord]:
        """Jobs, newest first."""

    @abc.abstractmethod
    def transition_job(
        self,
        job_id: int,
        to_state: JobState,
        expected_from: JobState | list[JobState] | None = None,
        error: str | None = None,
    ) -> JobRecord:
        """Move a job along ``JOB_TRANSITIONS``.

        Moving to ``cancelled`` also cancels its queued/running/stale trials; moving to ``queued`` (resume)
        or a terminal state releases the dispatcher claim. :class:`ConflictError` names from/to when illegal.
        """

    @abc.abstractmethod
    def set_job_note(self, job_id: int, note: str | None) -> bool:
        """Set (``None``: clear) the ``error`` of a queued or running job to say why it waits (a job blocked on
        a latency node), without moving it; False when the job has ended (its ``error`` is kept)."""

    @abc.abstractmethod
    def claim_job(self, dispatcher_id: str, lease_s: float, skip_owners: Collection[str] = ()) -> JobRecord | None:
        """Claim the oldest queued job, or a running one whose lease expired; ``None`` when there is none.

        A claimed queued job becomes ``running``. Two concurrent claimers never get the same job. Every claim
        increments the job's ``lease_epoch`` (the fencing token of this claim). Jobs of ``skip_owners`` (owners
        at the claimer's per-owner quota) are left for later.
        """

    @abc.abstractmethod
    def renew_lease(self, job_id: int, dispatcher_id: str, lease_s: float) -> JobRecord:
        """Extend the claim.

        Raises:
            ConflictError: Another dispatcher holds the claim or the job is not running.
        """

    @abc.abstractmethod
    def release_job(self, job_id: int, dispatcher_id: str) -> None:
        """Drop a claim held by ``dispatcher_id`` (no-op otherwise)."""

    @abc.abstractmethod
    def save_strategy_state(self, job_id: int, state: dict[str, Any]) -> None:
        """Persist the strategy's small resumable state (a JSON-able dict) in its own table, not the job row.

        The history is never part of it: strategies rebuild that from the job's trials (each carries its
        ``suggestion_id``), so the state stays the same size however many trials the job has.
        """

    @abc.abstractmethod
    def load_strategy_state(self, job_id: int) -> dict[str, Any] | None:
        """The last saved strategy state, or ``None``."""

    @abc.abstractmethod
    def count_jobs_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (for metrics)."""

    # ---------------------------------------------------------------- trials
    @abc.abstractmethod
    def create_trial(
        self,
        job_id: int,
        params: dict[str, Any],
        architecture: Architecture | DetectionArchitecture | None = None,
        *,
        state: TrialState = TrialState.QUEUED,
        params_count: int | None = None,
        macs: int | None = None,
        error: str | None = None,
        suggestion_id: str | None = None,
        suggestion_memo: dict[str, Any] | None = None,
        claimer: str | None = None,
    ) -> TrialRecord:
        """Add a trial with the job's next number (atomic); ``state`` may be ``rejected``/``duplicate``.

        ``suggestion_id`` (the strategy's id of the suggestion the trial came from) and ``suggestion_memo``
        (what else the strategy needs to recognise it) are stored in the same transaction; the id is unique
        within the job (a second trial for one suggestion is an IntegrityError). With ``claimer`` a queued
        trial is created already claimed by it (``running``, attempt 1: what :meth:`claim_trial` would do),
        in the same transaction.
        """

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> TrialRecord:
        """One trial, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def get_trials(self, trial_ids: list[int]) -> list[TrialRecord]:
        """Several trials in the order given (unknown ids are skipped)."""

    @abc.abstractmethod
    def list_trials(
        self,
        job_id: int,
        states: list[TrialState] | None = None,
        sort: TrialSort = "number",
        order: SortOrder = "asc",
        limit: int = 50,
        offset: int = 0,
        updated_after: int | None = None,
    ) -> RecordPage[TrialRecord]:
        """A job's trials; NULL rewards/accuracies/latencies sort last; ``updated_after`` filters by seq."""

    @abc.abstractmethod
    def list_changed_trials(
        self, job_id: int, after_seq: int, upto_seq: int, limit: int = 200, after_id: int | None = None
    ) -> list[TrialRecord]:
        """A page of the trials changed after a cursor, for the event stream (keyset paging, never offsets).

        Every change of a trial gives it the job's next ``updated_seq`` (under the job's lock, so a job's seqs
        commit in order). Trials come ordered by ``(updated_seq, id)``; pass the last one's pair as
        ``after_seq``/``after_id`` for the next page. A trial that changes while a client pages moves past
        ``upto_seq`` and is left for the next round (``after_seq=upto_seq``) instead of shifting the pages under
        the client and being skipped.

        Args:
            job_id: The job.
            after_seq: Trials changed after this seq (with ``after_id``: after the pair ``(after_seq, after_id)``).
            upto_seq: Highest ``updated_seq`` to include (the job's ``event_seq`` read before paging).
            limit: Page size.
            after_id: The id of the last trial already sent at ``after_seq`` (``None``: none was).
        """

    @abc.abstractmethod
    def list_trial_points(self, job_id: int, limit: int = 20_000, offset: int = 0) -> TrialColumns:
        """A page of a job's trials by number, as columns of plain values (``TRIAL_POINT_COLUMNS``).

        For charts and tables of many trials: one narrow read, no documents (architecture, parameters,
        latency samples); the block strings come as their stored JSON text.
        """

    @abc.abstractmethod
    def claim_trial(self, job_id: int, claimer: str) -> TrialRecord | None:
        """Take the job's lowest-numbered ``queued`` trial: it becomes ``running`` with ``attempts + 1``."""

    @abc.abstractmethod
    def start_trial(
        self, trial_id: int, attempt: int, worker: str | None, node: str | None, device: str | None
    ) -> TrialRecord:
        """A worker starts ``attempt`` of a trial (queued/stale -> running, or records where it runs)."""

    @abc.abstractmethod
    def heartbeat(self, trial_id: int, attempt: int | None = None) -> TrialState:
        """Record a heartbeat; returns the trial's state (a worker stops when it reads ``cancelled``).

        A ``stale`` trial whose worker was only slow goes back to ``running``. :class:`ConflictError` when
        ``attempt`` is given and a newer attempt of the (unfinished) trial exists.
        """

    @abc.abstractmethod
    def report_epoch(self, trial_id: int, report: EpochReport, attempt: int | None = None) -> bool:
        """Store one epoch result of the trial's current attempt; ``False`` (no-op) when it was not stored.

        ``report.epoch`` counts the epochs completed (workers report from 1). A newly stored epoch is live
        progress: the trial's ``epochs_run`` becomes at least ``report.epoch`` and the trial gets the job's
        next event sequence (the event stream sends it). A duplicate (same attempt and epoch) changes nothing
        but the heartbeat. A late report of an earlier attempt is ignored: ``attempt`` given and not the
        trial's current one, or any report while a requeued trial waits for its next attempt.
        """

    @abc.abstractmethod
    def latest_metrics(self, trial_ids: list[int]) -> dict[int, TrialMetric]:
        """The highest-epoch report of each given trial's current attempt, where it has one (live progress)."""

    @abc.abstractmethod
    def report_trial(self, trial_id: int, attempt: int, result: TrialResult, report_key: str) -> TrialRecord:
        """Record a trial's final result, idempotently.

        The same ``report_key`` again returns the stored trial unchanged. A report for a cancelled trial or a
        finished job is stored but changes no counters or states. A completed result updates the job's
        counters, best reward and incremental Pareto front.
        """

    @abc.abstractmethod
    def mark_stale_trials(self, older_than_s: float) -> list[int]:
        """Running trials whose last heartbeat is older than ``older_than_s`` become ``stale``; their ids."""

    @abc.abstractmethod
    def requeue_trial(self, trial_id: int) -> TrialRecord:
        """A stale or failed trial goes back to ``queued`` (attempts kept) to be retried.

        ``epochs_run`` restarts at 0: the next attempt reports its epochs from 1 again, while the earlier
        attempts' epoch reports stay stored as history (:meth:`list_metrics` with ``all_attempts``).
        """

    @abc.abstractmethod
    def list_metrics(self, trial_id: int, attempt: int | None = None, all_attempts: bool = False) -> list[TrialMetric]:
        """A trial's epoch reports of one attempt in epoch order: the current attempt unless ``attempt`` is given.

        ``all_attempts`` returns every attempt's reports instead, by attempt and then epoch.
        """

    @abc.abstractmethod
    def find_completed_trial(self, job_id: int, arch_hash: str) -> TrialRecord | None:
        """A completed trial of the job with this architecture hash (in-job result cache)."""

    @abc.abstractmethod
    def pareto(self, job_id: int) -> list[TrialRecord]:
        """The job's Pareto-front trials (``on_front``), by latency ascending."""

    @abc.abstractmethod
    def best(self, job_id: int, k: int = 1, reward: RewardConfig | None = None) -> list[TrialRecord]:
        """The ``k`` completed trials with the highest reward.

        Without ``reward`` the stored reward (the job's own settings) ranks them; with it, every completed
        trial is re-scored from its accuracy and latency inside the database and the records keep their
        stored ``reward`` (the caller re-scores the ``k`` returned).
        """

    @abc.abstractmethod
    def completed_points(self, job_id: int) -> list[tuple[int, float, float]]:
        """``(trial_id, accuracy, latency_ms)`` of every completed trial with both values (for re-scoring)."""

    @abc.abstractmethod
    def count_trials_by_state(self) -> dict[TrialState, int]:
        """How many trials are in each state, over all jobs (for metrics)."""

    @abc.abstractmethod
    def count_trial_transitions(self) -> dict[str, int]:
        """Monotonic counts over all jobs of what happened to trials (Prometheus counters).

        Keys: ``created``, ``requeued``, ``stale`` and each terminal state a final report set (``completed``,
        ``pruned``, ``failed``, ``cancelled``). Each is counted in the transaction that made the change and never
        decreases: a requeued failed trial stays counted as a failure (and once as a requeue).
        """

    # ---------------------------------------------------------------- latency cache
    @abc.abstractmethod
    def get_cached_latency(self, cache_key: str) -> LatencyRecord | None:
        """A cached measurement, or ``None``."""

    @abc.abstractmethod
    def put_latency(
        self,
        cache_key: str,
        arch_hash: str,
        input_shape: list[int],
        runtime_key: str,
        measurement: LatencyMeasurement,
    ) -> LatencyRecord:
        """Cache a measurement; when the key exists already, the first stored one is kept and returned."""

    # ---------------------------------------------------------------- latency targets and predictors
    @abc.abstractmethod
    def create_latency_target(self, owner: str, target: LatencyTarget) -> LatencyTargetRecord:
        """Store a new target; :class:`ConflictError` when the name is taken."""

    @abc.abstractmethod
    def get_latency_target(self, name: str) -> LatencyTargetRecord:
        """One stored target by name, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def list_latency_targets(self) -> list[LatencyTargetRecord]:
        """Every stored target, by name."""

    @abc.abstractmethod
    def update_latency_target(self, target: LatencyTarget) -> LatencyTargetRecord:
        """Replace the settings of the stored target of that name, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def delete_latency_target(self, name: str) -> None:
        """Delete a stored target and its predictor, or :class:`NotFoundError`."""

    @abc.abstractmethod
    def get_latency_predictor(self, target: str) -> dict[str, Any] | None:
        """The predictor document of a target name, or ``None``."""

    @abc.abstractmethod
    def save_latency_predictor(self, target: str, body: dict[str, Any]) -> int:
        """Store (replace) a target's predictor document; returns its new version (1 for the first save)."""

    # ---------------------------------------------------------------- schema
    @abc.abstractmethod
    def schema_status(self) -> SchemaStatus:
        """The schema revision in the database against the code's head revision."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""

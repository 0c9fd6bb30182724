"""Trial, result and latency-cache operations of the SQLAlchemy storage."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Text, and_, case, cast, func, literal, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture
from nas_service.jobspec import (
    TRIAL_TERMINAL,
    EpochReport,
    JobSpec,
    LatencyMeasurement,
    RewardConfig,
    TrialResult,
    TrialState,
)
from nas_service.reward import mnasnet_reward
from nas_service.storage import _convert as conv
from nas_service.storage._core import JOB_TERMINAL, SQLCore, clean_text, rowcount
from nas_service.storage._reward import reward_expression
from nas_service.storage.base import SortOrder, TrialSort
from nas_service.storage.domain import (
    TRIAL_POINT_COLUMNS,
    LatencyRecord,
    RecordPage,
    TrialColumns,
    TrialMetric,
    TrialRecord,
)
from nas_service.storage.errors import ConflictError, NotFoundError
from nas_service.storage.orm import (
    JobRow,
    LatencyMeasurementRow,
    TrialCounterRow,
    TrialMetricRow,
    TrialRow,
    utcnow,
)

_MAX_LATENCY_SAMPLES = 2000  # samples kept with a trial (the latency cache keeps what it is given)
_TERMINAL_VALUES = frozenset(t.value for t in TRIAL_TERMINAL)
_ACCEPTS_REPORT = (TrialState.QUEUED.value, TrialState.RUNNING.value, TrialState.STALE.value)
_SORT_COLUMNS = {
    "number": TrialRow.number,
    "reward": TrialRow.reward,
    "accuracy": TrialRow.accuracy,
    "latency": TrialRow.latency_ms,
    "updated": TrialRow.updated_seq,
}
#: A trial's current attempt: ``attempts`` once claimed (a trial never claimed reports as attempt 1).
_CURRENT_ATTEMPT = case((TrialRow.attempts > 1, TrialRow.attempts), else_=literal(1))
_COUNTERS = {
    TrialState.COMPLETED: "trials_completed",
    TrialState.PRUNED: "trials_pruned",
    TrialState.FAILED: "trials_failed",
}


_REWARD_CACHE_SIZE = 1024


def _claimed(claimer: str | None, now: Any, state: TrialState) -> dict[str, Any]:
    """Columns of a trial created already claimed (attempt 1 running), as :meth:`claim_trial` sets them."""
    if claimer is None or state != TrialState.QUEUED:
        return {"attempts": 0}
    return {"attempts": 1, "worker": claimer, "started_at": now, "heartbeat_at": now}


class TrialOps(SQLCore):
    """Trials, epoch metrics, results, the incremental Pareto front and the latency cache."""

    def _reward_config(self, s: Session, job_id: int) -> RewardConfig:
        """A job's reward settings, decoded once per job (a job's spec never changes after it is created)."""
        cache: dict[int, RewardConfig] = self.__dict__.setdefault("_rewards", {})
        reward = cache.get(job_id)
        if reward is None:
            spec = s.execute(select(JobRow.spec).where(JobRow.id == job_id)).scalar_one()
            reward = JobSpec.model_validate(spec).reward
            if len(cache) >= _REWARD_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[job_id] = reward
        return reward

    # ------------------------------------------------------------------ create / read
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
        """See :meth:`BaseStorage.create_trial`."""
        state = TrialState(state)
        if isinstance(architecture, dict):  # a detector's document has a backbone
            model = DetectionArchitecture if "backbone" in architecture else Architecture
            architecture = model.model_validate(architecture)
        now = utcnow()
        with self._session() as s:
            job = self._lock_job(s, job_id)
            if job.state in JOB_TERMINAL:
                raise ConflictError(f"job {job_id} is {job.state}; no new trials")
            job.trials_total += 1
            number = job.trials_total
            seq = self._bump(s, job_id)
            row = TrialRow(
                job_id=job_id,
                number=number,
                state=state.value,
                params=params,
                suggestion_id=suggestion_id,
                suggestion_memo=suggestion_memo or None,
                **_claimed(claimer, now, state),
                architecture=architecture.model_dump(mode="json") if architecture else None,
                block_strings=architecture.block_strings() if architecture else None,
                arch_hash=architecture.arch_hash() if architecture else None,
                params_count=params_count,
                macs=macs,
                epochs_run=0,
                on_front=False,
                error=clean_text(error),
                updated_seq=seq,
                created_at=now,
                finished_at=now if state in TRIAL_TERMINAL else None,
            )
            if claimer is not None and state == TrialState.QUEUED:
                row.state = TrialState.RUNNING.value
            s.add(row)
            s.flush()
            self._count(s, job_id, "created")
            return conv.trial(row)

    def get_trial(self, trial_id: int) -> TrialRecord:
        """See :meth:`BaseStorage.get_trial`."""
        with self._session(write=False) as s:
            return conv.trial(self._trial_row(s, trial_id))

    def get_trials(self, trial_ids: list[int]) -> list[TrialRecord]:
        """See :meth:`BaseStorage.get_trials`."""
        if not trial_ids:
            return []
        with self._session(write=False) as s:
            rows = {r.id: r for r in s.execute(select(TrialRow).where(TrialRow.id.in_(trial_ids))).scalars()}
            return [conv.trial(rows[i]) for i in trial_ids if i in rows]

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
        """See :meth:`BaseStorage.list_trials`."""
        column = _SORT_COLUMNS[sort]
        key = column.desc() if order == "desc" else column.asc()
        q = select(TrialRow).where(TrialRow.job_id == job_id).order_by(key.nulls_last(), TrialRow.number)
        if states:
            q = q.where(TrialRow.state.in_([TrialState(x).value for x in states]))
        if updated_after is not None:
            q = q.where(TrialRow.updated_seq > updated_after)
        with self._session(write=False) as s:
            rows, total = self._page(s, q, limit, offset)
            return RecordPage([conv.trial(r) for r in rows], total)

    def list_changed_trials(
        self, job_id: int, after_seq: int, upto_seq: int, limit: int = 200, after_id: int | None = None
    ) -> list[TrialRecord]:
        """See :meth:`BaseStorage.list_changed_trials`."""
        later = TrialRow.updated_seq > after_seq
        if after_id is not None:
            later = or_(later, and_(TrialRow.updated_seq == after_seq, TrialRow.id > after_id))
        q = (
            select(TrialRow)
            .where(TrialRow.job_id == job_id, TrialRow.updated_seq <= upto_seq, later)
            .order_by(TrialRow.updated_seq, TrialRow.id)
            .limit(limit)
        )
        with self._session(write=False) as s:
            return [conv.trial(r) for r in s.execute(q).scalars()]

    def list_trial_points(self, job_id: int, limit: int = 20_000, offset: int = 0) -> TrialColumns:
        """See :meth:`BaseStorage.list_trial_points`."""
        # one narrow SELECT of plain columns: no ORM objects, no JSON decoding (block strings stay text)
        derived = {"resolution": TrialRow.architecture["resolution"].as_integer()}
        fields = [derived[name] if name in derived else getattr(TrialRow, name) for name in TRIAL_POINT_COLUMNS]
        blocks = type_coerce(TrialRow.block_strings, Text) if not self._is_pg else cast(TrialRow.block_strings, Text)
        q = (
            select(*fields, blocks)
            .where(TrialRow.job_id == job_id)
            .order_by(TrialRow.number)
            .limit(limit)
            .offset(offset)
        )
        with self._session(write=False) as s:
            total = s.execute(select(func.count()).where(TrialRow.job_id == job_id)).scalar_one()
            rows = s.execute(q).all()
        n = len(TRIAL_POINT_COLUMNS)
        values = list(zip(*rows, strict=True)) if rows else [()] * (n + 1)
        columns = {name: list(values[i]) for i, name in enumerate(TRIAL_POINT_COLUMNS)}
        columns["on_front"] = [bool(v) for v in columns["on_front"]]
        blocks_json = [None if v is None or v == "null" else str(v) for v in values[n]]  # JSON null: none
        return TrialColumns(total=int(total), columns=columns, block_strings_json=blocks_json)

    def list_metrics(self, trial_id: int, attempt: int | None = None, all_attempts: bool = False) -> list[TrialMetric]:
        """See :meth:`BaseStorage.list_metrics`."""
        q = (
            select(TrialMetricRow)
            .where(TrialMetricRow.trial_id == trial_id)
            .order_by(TrialMetricRow.attempt, TrialMetricRow.epoch)
        )
        if attempt is not None:
            q = q.where(TrialMetricRow.attempt == attempt)
        elif not all_attempts:
            current = select(_CURRENT_ATTEMPT).where(TrialRow.id == trial_id).scalar_subquery()
            q = q.where(TrialMetricRow.attempt == current)
        with self._session(write=False) as s:
            return [conv.metric(r) for r in s.execute(q).scalars()]

    def find_completed_trial(self, job_id: int, arch_hash: str) -> TrialRecord | None:
        """See :meth:`BaseStorage.find_completed_trial`."""
        with self._session(write=False) as s:
            # Every row of this network (a handful), the first completed one picked here: with the state and an
            # ORDER BY number in SQL, SQLite walks the job's (job_id, number) index through every trial instead
            # of the (job_id, arch_hash) one, O(trials) per placement (16 ms at 10,000 trials).
            rows = s.execute(
                select(TrialRow).where(TrialRow.job_id == job_id, TrialRow.arch_hash == arch_hash)
            ).scalars()
            done = [r for r in rows if r.state == TrialState.COMPLETED.value]
            return conv.trial(min(done, key=lambda r: r.number)) if done else None

    # ------------------------------------------------------------------ execution
    def claim_trial(self, job_id: int, claimer: str) -> TrialRecord | None:
        """See :meth:`BaseStorage.claim_trial`."""
        now = utcnow()
        with self._session() as s:
            self._lock_job(s, job_id)  # claimers of one job queue up here; lock order job -> trial
            # The queued rows (few) through the (job_id, state) index, the first picked here: ORDER BY number in
            # SQL makes SQLite walk every trial of the job in number order (see find_completed_trial).
            q = select(TrialRow.id, TrialRow.number).where(
                TrialRow.job_id == job_id, TrialRow.state == TrialState.QUEUED.value
            )
            if self._is_pg:
                q = q.with_for_update(skip_locked=True)
            queued = s.execute(q).all()
            if not queued:
                return None
            trial_id = min(queued, key=lambda r: r.number).id
            seq = self._bump(s, job_id)
            won = rowcount(
                s.execute(
                    update(TrialRow)
                    .where(TrialRow.id == trial_id, TrialRow.state == TrialState.QUEUED.value)
                    .values(
                        state=TrialState.RUNNING.value,
                        attempts=TrialRow.attempts + 1,
                        worker=claimer,
                        started_at=now,
                        heartbeat_at=now,
                        updated_seq=seq,
                    )
                    .execution_options(synchronize_session=False)
                )
            )
            if won == 0:  # pragma: no cover - impossible under the job lock; kept as a guard
                return None
            return conv.trial(self._trial_row(s, trial_id, lock=True))

    def start_trial(
        self, trial_id: int, attempt: int, worker: str | None, node: str | None, device: str | None
    ) -> TrialRecord:
        """See :meth:`BaseStorage.start_trial`."""
        now = utcnow()
        with self._session() as s:
            job_id = self._trial_job_id(s, trial_id)
            self._lock_job(s, job_id)
            row = self._trial_row(s, trial_id, lock=True)
            fresh = row.state in (TrialState.QUEUED.value, TrialState.STALE.value) and row.attempts == attempt - 1
            same = row.state == TrialState.RUNNING.value and row.attempts == attempt
            if not (fresh or same):
                raise ConflictError(
                    f"trial {trial_id} cannot start attempt {attempt}: it is {row.state} at attempt {row.attempts}"
                )
            row.state, row.attempts = TrialState.RUNNING.value, attempt
            row.worker = worker or row.worker
            row.node, row.device = node or row.node, device or row.device
            if fresh or row.started_at is None:
                row.started_at = now
            row.heartbeat_at = now
            row.updated_seq = self._bump(s, job_id)
            return conv.trial(row)

    def heartbeat(self, trial_id: int, attempt: int | None = None) -> TrialState:
        """See :meth:`BaseStorage.heartbeat`."""
        now = utcnow()
        with self._session() as s:
            cond = [TrialRow.id == trial_id, TrialRow.state == TrialState.RUNNING.value]
            if attempt is not None:
                cond.append(TrialRow.attempts == attempt)
            if rowcount(s.execute(update(TrialRow).where(*cond).values(heartbeat_at=now))):
                return TrialState.RUNNING
            job_id = self._trial_job_id(s, trial_id)
            self._lock_job(s, job_id)
            row = self._trial_row(s, trial_id, lock=True)
            if attempt is not None and row.attempts != attempt and row.state not in _TERMINAL_VALUES:
                raise ConflictError(f"trial {trial_id} is at attempt {row.attempts}; attempt {attempt} was superseded")
            if row.state == TrialState.STALE.value and attempt in (None, row.attempts):
                # the worker was only slow: take the trial back instead of retrying it
                row.state, row.heartbeat_at = TrialState.RUNNING.value, now
                row.updated_seq = self._bump(s, job_id)
            return TrialState(row.state)

    def report_epoch(self, trial_id: int, report: EpochReport, attempt: int | None = None) -> bool:
        """See :meth:`BaseStorage.report_epoch`."""
        with self._session() as s:
            # lock order job -> trial, as everywhere: the metric insert below takes a key-share lock on the
            # trial row (its foreign key), so the job lock must come first
            job_id = self._trial_job_id(s, trial_id)
            self._lock_job(s, job_id)
            # claims and requeues change these only under the job lock: they hold for this transaction
            attempts, state = s.execute(select(TrialRow.attempts, TrialRow.state).where(TrialRow.id == trial_id)).one()
            current = max(attempts, 1)
            between_attempts = state == TrialState.QUEUED.value and attempts >= 1  # requeued, not yet re-claimed
            if between_attempts or (attempt is not None and attempt != current):
                return False  # a late report of an earlier attempt: that curve is over
            stmt = (
                self._insert(TrialMetricRow)
                .values(
                    trial_id=trial_id,
                    attempt=current,
                    epoch=report.epoch,
                    val_accuracy=report.val_accuracy,
                    train_loss=report.train_loss,
                    elapsed_s=report.elapsed_s,
                )
                .on_conflict_do_nothing(index_elements=["trial_id", "attempt", "epoch"])
                .returning(TrialMetricRow.id)
            )
            inserted = s.execute(stmt).first() is not None
            beat = update(TrialRow).where(TrialRow.id == trial_id)
            if inserted:  # live progress: the trial changes, so the event stream sends it
                s.execute(
                    beat.values(
                        epochs_run=case((TrialRow.epochs_run < report.epoch, report.epoch), else_=TrialRow.epochs_run),
                        updated_seq=self._bump(s, job_id),
                    ).execution_options(synchronize_session=False)
                )
            s.execute(
                beat.where(TrialRow.state == TrialState.RUNNING.value)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return inserted

    def latest_metrics(self, trial_ids: list[int]) -> dict[int, TrialMetric]:
        """See :meth:`BaseStorage.latest_metrics`."""
        if not trial_ids:
            return {}
        last = (
            select(TrialMetricRow.trial_id, TrialMetricRow.attempt, func.max(TrialMetricRow.epoch).label("epoch"))
            .join(TrialRow, TrialRow.id == TrialMetricRow.trial_id)
            .where(TrialMetricRow.trial_id.in_(trial_ids), TrialMetricRow.attempt == _CURRENT_ATTEMPT)
            .group_by(TrialMetricRow.trial_id, TrialMetricRow.attempt)
            .subquery()
        )
        q = select(TrialMetricRow).join(
            last,
            and_(
                TrialMetricRow.trial_id == last.c.trial_id,
                TrialMetricRow.attempt == last.c.attempt,
                TrialMetricRow.epoch == last.c.epoch,
            ),
        )
        with self._session(write=False) as s:
            return {r.trial_id: conv.metric(r) for r in s.execute(q).scalars()}

    def report_trial(self, trial_id: int, attempt: int, result: TrialResult, report_key: str) -> TrialRecord:
        """See :meth:`BaseStorage.report_trial`."""
        if result.state not in TRIAL_TERMINAL:
            raise ConflictError(f"a final report needs a terminal state, not {result.state.value}")
        now = utcnow()
        with self._session() as s:
            job = self._lock_job(s, self._trial_job_id(s, trial_id))
            row = self._trial_row(s, trial_id, lock=True)
            if row.report_key == report_key:
                return conv.trial(row)  # a retried or duplicated report: nothing changes
            late = row.state == TrialState.CANCELLED.value or job.state in JOB_TERMINAL
            if late and row.report_key is not None:
                return conv.trial(row)  # the first late report is kept
            if not late:
                if row.state not in _ACCEPTS_REPORT:
                    raise ConflictError(f"trial {trial_id} is already {row.state}; report {report_key!r} refused")
                if attempt != row.attempts:
                    raise ConflictError(
                        f"report for attempt {attempt} of trial {trial_id}, which is at attempt {row.attempts}"
                    )
            # A late report (its trial was cancelled, or its job ended) is stored for the record without a reward:
            # it is never ranked (reward order, /best), drawn on the front or counted.
            self._store_result(row, result, report_key, now, None if late else self._reward_config(s, job.id))
            seq = self._bump(s, job.id)
            row.updated_seq = seq
            if late:  # stored for the record; counters, states and the front stay as they are
                return conv.trial(row)
            row.state = result.state.value
            self._count(s, job.id, result.state.value)
            counter = _COUNTERS.get(result.state)
            if counter:
                setattr(job, counter, getattr(job, counter) + 1)
            if result.state == TrialState.COMPLETED:
                if row.reward is not None and (job.best_reward is None or row.reward > job.best_reward):
                    job.best_reward, job.best_trial_id = row.reward, row.id
                if row.accuracy is not None and row.latency_ms is not None:
                    s.flush()
                    row.on_front = self._update_front(s, job.id, row.accuracy, row.latency_ms, seq)
            return conv.trial(row)

    @staticmethod
    def _store_result(row: TrialRow, result: TrialResult, key: str, now: Any, reward_cfg: RewardConfig | None) -> None:
        row.report_key, row.finished_at = key, now
        row.accuracy = result.accuracy
        if result.latency is not None:
            lat = result.latency.model_dump(mode="json")
            lat["samples_ms"] = lat["samples_ms"][:_MAX_LATENCY_SAMPLES]
            row.latency, row.latency_ms, row.latency_p90_ms = (
                lat,
                result.latency.median_ms,
                result.latency.p90_ms,
            )
        if result.params is not None:
            row.params_count = result.params
        if result.macs is not None:
            row.macs = result.macs
        row.epochs_run = max(row.epochs_run, result.epochs_run)
        row.train_seconds = result.train_seconds
        row.error = clean_text(result.error)
        row.worker = clean_text(result.worker) or row.worker
        row.node = clean_text(result.node) or row.node
        row.device = clean_text(result.device) or row.device
        row.reward = None
        if reward_cfg is not None and row.accuracy is not None and row.latency_ms is not None:
            assert reward_cfg.alpha is not None and reward_cfg.beta is not None
            row.reward = mnasnet_reward(
                row.accuracy, row.latency_ms, reward_cfg.target_ms, reward_cfg.alpha, reward_cfg.beta
            )

    @staticmethod
    def _update_front(s: Session, job_id: int, acc: float, lat: float, seq: int) -> bool:
        """Add a completed point to the job's front (accuracy max, latency min); True when it is on it.

        A point is dominated when another is at least as good in both and better in one; equal points
        both stay. Runs under the job lock, so concurrent reports of one job cannot interleave here.
        """
        on_front = (TrialRow.job_id == job_id, TrialRow.on_front.is_(True))
        dominated = s.execute(
            select(TrialRow.id)
            .where(
                *on_front,
                TrialRow.accuracy >= acc,
                TrialRow.latency_ms <= lat,
                or_(TrialRow.accuracy > acc, TrialRow.latency_ms < lat),
            )
            .limit(1)
        ).first()
        if dominated is not None:
            return False
        s.execute(
            update(TrialRow)
            .where(
                *on_front,
                TrialRow.accuracy <= acc,
                TrialRow.latency_ms >= lat,
                or_(TrialRow.accuracy < acc, TrialRow.latency_ms > lat),
            )
            .values(on_front=False, updated_seq=seq)
            .execution_options(synchronize_session=False)
        )
        return True

    def mark_stale_trials(self, older_than_s: float) -> list[int]:
        """See :meth:`BaseStorage.mark_stale_trials`."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        overdue = (
            TrialRow.state == TrialState.RUNNING.value,
            or_(TrialRow.heartbeat_at.is_(None), TrialRow.heartbeat_at < cutoff),
        )
        with self._session() as s:
            by_job: dict[int, list[int]] = defaultdict(list)
            for trial_id, job_id in s.execute(select(TrialRow.id, TrialRow.job_id).where(*overdue)).all():
                by_job[job_id].append(trial_id)
            marked: list[int] = []
            for job_id in sorted(by_job):  # ascending job ids: a fixed lock order
                self._lock_job(s, job_id)
                seq = self._bump(s, job_id)
                ids = list(
                    s.execute(
                        update(TrialRow)
                        .where(TrialRow.id.in_(by_job[job_id]), *overdue)
                        .values(state=TrialState.STALE.value, updated_seq=seq)
                        .returning(TrialRow.id)
                        .execution_options(synchronize_session=False)
                    ).scalars()
                )
                self._count(s, job_id, "stale", len(ids))
                marked.extend(ids)
            return sorted(marked)

    def requeue_trial(self, trial_id: int) -> TrialRecord:
        """See :meth:`BaseStorage.requeue_trial`."""
        with self._session() as s:
            job = self._lock_job(s, self._trial_job_id(s, trial_id))
            row = self._trial_row(s, trial_id, lock=True)
            if row.state == TrialState.QUEUED.value:
                return conv.trial(row)
            if row.state not in (TrialState.STALE.value, TrialState.FAILED.value):
                raise ConflictError(f"trial {trial_id} cannot go from {row.state} to queued")
            if job.state in JOB_TERMINAL:
                raise ConflictError(f"job {job.id} is {job.state}; trial {trial_id} cannot be requeued")
            if row.state == TrialState.FAILED.value:
                job.trials_failed -= 1
                row.report_key = None  # the next attempt reports with a new key
            row.state = TrialState.QUEUED.value
            self._count(s, job.id, "requeued")
            row.epochs_run = 0  # the next attempt trains from epoch 1; this one's metrics stay as history
            row.updated_seq = self._bump(s, job.id)
            return conv.trial(row)

    # ------------------------------------------------------------------ results
    def pareto(self, job_id: int) -> list[TrialRecord]:
        """See :meth:`BaseStorage.pareto`."""
        with self._session(write=False) as s:
            q = (
                select(TrialRow)
                .where(TrialRow.job_id == job_id, TrialRow.on_front.is_(True))
                .order_by(TrialRow.latency_ms, TrialRow.number)
            )
            return [conv.trial(r) for r in s.execute(q).scalars()]

    def best(self, job_id: int, k: int = 1, reward: RewardConfig | None = None) -> list[TrialRecord]:
        """See :meth:`BaseStorage.best`."""
        completed = (TrialRow.job_id == job_id, TrialRow.state == TrialState.COMPLETED.value)
        if reward is None:
            q = (
                select(TrialRow)
                .where(*completed, TrialRow.reward.is_not(None))
                .order_by(TrialRow.reward.desc(), TrialRow.number)
                .limit(k)
            )
        else:  # re-score in SQL: only the top k rows leave the database
            assert reward.alpha is not None and reward.beta is not None  # RewardConfig resolves its preset
            score = reward_expression(
                TrialRow.accuracy, TrialRow.latency_ms, reward.target_ms, reward.alpha, reward.beta
            )
            q = (
                select(TrialRow)
                .where(*completed, TrialRow.accuracy.is_not(None), TrialRow.latency_ms > 0)
                .order_by(score.desc(), TrialRow.number)
                .limit(k)
            )
        with self._session(write=False) as s:
            return [conv.trial(r) for r in s.execute(q).scalars()]

    def completed_points(self, job_id: int) -> list[tuple[int, float, float]]:
        """See :meth:`BaseStorage.completed_points`."""
        with self._session(write=False) as s:
            q = select(TrialRow.id, TrialRow.accuracy, TrialRow.latency_ms).where(
                and_(
                    TrialRow.job_id == job_id,
                    TrialRow.state == TrialState.COMPLETED.value,
                    TrialRow.accuracy.is_not(None),
                    TrialRow.latency_ms.is_not(None),
                )
            )
            # Core execution, and the driver's own rows (plain tuples of int and float: the columns are an
            # integer key and two non-null REAL/double columns): building Row objects and converting 100,000
            # points took most of the dashboard's time to its first draw.
            result = s.connection().execute(q)
            try:
                return list(result.cursor.fetchall())
            finally:
                result.close()

    def _count(self, s: Session, job_id: int, name: str, n: int = 1) -> None:
        """Add ``n`` to a job's monotonic counter (the caller holds the job's lock: no contention across jobs)."""
        if n <= 0:
            return
        stmt = self._insert(TrialCounterRow).values(job_id=job_id, name=name, value=n)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=[TrialCounterRow.job_id, TrialCounterRow.name],
                set_={"value": TrialCounterRow.value + n},
            )
        )

    def count_trial_transitions(self) -> dict[str, int]:
        """See :meth:`BaseStorage.count_trial_transitions`."""
        q = select(TrialCounterRow.name, func.sum(TrialCounterRow.value)).group_by(TrialCounterRow.name)
        with self._session(write=False) as s:
            return {str(name): int(total) for name, total in s.execute(q).all()}

    def count_trials_by_state(self) -> dict[TrialState, int]:
        """See :meth:`BaseStorage.count_trials_by_state`."""
        with self._session(write=False) as s:
            rows = s.execute(select(TrialRow.state, func.count()).group_by(TrialRow.state)).all()
        counts = {state: 0 for state in TrialState}
        counts.update({TrialState(state): int(n) for state, n in rows})
        return counts

    # ------------------------------------------------------------------ latency cache
    def get_cached_latency(self, cache_key: str) -> LatencyRecord | None:
        """See :meth:`BaseStorage.get_cached_latency`."""
        with self._session(write=False) as s:
            row = s.execute(
                select(LatencyMeasurementRow).where(LatencyMeasurementRow.cache_key == cache_key)
            ).scalar_one_or_none()
            return conv.latency(row) if row is not None else None

    def put_latency(
        self,
        cache_key: str,
        arch_hash: str,
        input_shape: list[int],
        runtime_key: str,
        measurement: LatencyMeasurement,
    ) -> LatencyRecord:
        """See :meth:`BaseStorage.put_latency`."""
        with self._session() as s:
            s.execute(
                self._insert(LatencyMeasurementRow)
                .values(
                    cache_key=cache_key,
                    arch_hash=arch_hash,
                    input_shape=list(input_shape),
                    device=measurement.device,
                    runtime_key=runtime_key,
                    batch_size=measurement.batch_size,
                    threads=measurement.threads,
                    median_ms=measurement.median_ms,
                    p90_ms=measurement.p90_ms,
                    mean_ms=measurement.mean_ms,
                    std_ms=measurement.std_ms,
                    samples=measurement.samples,
                    samples_ms=measurement.samples_ms,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["cache_key"])
            )
            row = s.execute(
                select(LatencyMeasurementRow).where(LatencyMeasurementRow.cache_key == cache_key)
            ).scalar_one_or_none()
            if row is None:  # pragma: no cover - the insert or a concurrent one stored it
                raise NotFoundError(f"latency {cache_key} vanished")
            return conv.latency(row)

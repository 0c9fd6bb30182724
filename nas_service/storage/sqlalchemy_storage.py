"""The SQLAlchemy implementation of :class:`~nas_service.storage.base.BaseStorage` (SQLite and Postgres).

Concurrency rules (what makes several controller replicas safe on Postgres):

* every state change is a conditional ``UPDATE ... WHERE state IN (...)``; zero rows means a conflict;
* every write that touches a job's trials locks the job row first (``SELECT ... FOR UPDATE``), so lock
  order is always job -> trial, and per-job sequences (trial numbers, ``event_seq``) are gap-free and commit in order;
* queue claims use ``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite serialises writers (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from nas_service.jobspec import (
    JOB_TRANSITIONS,
    JobSpec,
    JobState,
    TrialState,
)
from nas_service.storage import _convert as conv
from nas_service.storage._core import JOB_TERMINAL, clean_text, rowcount
from nas_service.storage._latency import LatencyOps
from nas_service.storage._trials import TrialOps
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import (
    CreatedToken,
    JobRecord,
    Owner,
    RecordPage,
    SchemaStatus,
    SpaceRecord,
    TokenRecord,
    TokenScope,
)
from nas_service.storage.errors import ConflictError, IntegrityError, NotFoundError
from nas_service.storage.orm import (
    ApiTokenRow,
    JobRow,
    OwnerRow,
    SearchSpaceRow,
    StrategyStateRow,
    TrialRow,
    utcnow,
)

_CANCELLABLE_TRIALS = (TrialState.QUEUED, TrialState.RUNNING, TrialState.STALE)
_TOKEN_TOUCH_S = 60.0  # last_used_at is refreshed at most this often (no write per request)


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()


class SQLAlchemyStorage(TrialOps, LatencyOps, BaseStorage):
    """Storage on any SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Args:
        url: Database URL. The schema must already be migrated (see :mod:`nas_service.storage.schema`).
        **engine_kwargs: Passed to :func:`sqlalchemy.create_engine`.
    """

    # ------------------------------------------------------------------ owners and tokens
    def get_or_create_owner(self, name: str) -> Owner:
        """See :meth:`BaseStorage.get_or_create_owner`."""
        for _ in range(3):
            try:
                with self._session() as s:
                    row = s.execute(select(OwnerRow).where(OwnerRow.name == name)).scalar_one_or_none()
                    if row is None:
                        row = OwnerRow(name=name, created_at=utcnow())
                        s.add(row)
                        s.flush()
                    return conv.owner(row)
            except IntegrityError:  # created concurrently: read it back
                continue
        raise ConflictError(f"could not create owner {name!r}")

    def create_token(
        self,
        owner: str,
        scope: TokenScope = TokenScope.USER,
        name: str | None = None,
        token: str | None = None,
    ) -> CreatedToken:
        """See :meth:`BaseStorage.create_token`."""
        owner_rec = self.get_or_create_owner(owner)
        plaintext = token or f"nas_{secrets.token_urlsafe(32)}"
        with self._session() as s:
            row = ApiTokenRow(
                owner_id=owner_rec.id,
                token_hash=hash_token(plaintext),
                prefix=plaintext[:12],
                scope=TokenScope(scope).value,
                name=name,
                created_at=utcnow(),
                revoked=False,
            )
            s.add(row)
            s.flush()
            return CreatedToken(token=plaintext, record=conv.token(row, owner_rec.name))

    def verify_token(self, token: str) -> TokenRecord | None:
        """See :meth:`BaseStorage.verify_token`."""
        with self._session(write=False) as s:
            row = s.execute(
                select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token), ApiTokenRow.revoked.is_(False))
            ).scalar_one_or_none()
            if row is None:
                return None
            record = conv.token(row, self._name(s, row.owner_id))
        now = utcnow()
        if record.last_used_at is None or (now - record.last_used_at).total_seconds() > _TOKEN_TOUCH_S:
            with self._session() as s:
                s.execute(update(ApiTokenRow).where(ApiTokenRow.id == record.id).values(last_used_at=now))
        return record

    def revoke_token(self, token_id: int) -> None:
        """See :meth:`BaseStorage.revoke_token`."""
        with self._session() as s:
            if rowcount(s.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(revoked=True))) == 0:
                raise NotFoundError(f"token {token_id} not found")

    def list_tokens(self, owner: str | None = None) -> list[TokenRecord]:
        """See :meth:`BaseStorage.list_tokens`."""
        with self._session(write=False) as s:
            q = select(ApiTokenRow).order_by(ApiTokenRow.id)
            if owner is not None:
                q = q.where(ApiTokenRow.owner_id == self._owner_id(s, owner))
            return [conv.token(r, self._name(s, r.owner_id)) for r in s.execute(q).scalars()]

    # ------------------------------------------------------------------ spaces
    def create_space(
        self, owner: str, name: str, body: dict[str, Any], log10_cardinality: float | None = None
    ) -> SpaceRecord:
        """See :meth:`BaseStorage.create_space`."""
        owner_rec = self.get_or_create_owner(owner)
        for _ in range(5):  # safety net: the owner lock below already serializes version allocation
            try:
                with self._session() as s:
                    # Concurrent creates by one owner queue on its row (Postgres; SQLite writes are serialized
                    # anyway), so max(version) + 1 cannot be taken twice. Optimistic retries alone starved under
                    # contention (several replicas creating the same name).
                    s.execute(select(OwnerRow.id).where(OwnerRow.id == owner_rec.id).with_for_update())
                    last = s.execute(
                        select(func.max(SearchSpaceRow.version)).where(
                            SearchSpaceRow.owner_id == owner_rec.id, SearchSpaceRow.name == name
                        )
                    ).scalar_one_or_none()
                    row = SearchSpaceRow(
                        owner_id=owner_rec.id,
                        name=name,
                        version=(last or 0) + 1,
                        body=body,
                        log10_cardinality=log10_cardinality,
                        archived=False,
                        created_at=utcnow(),
                    )
                    s.add(row)
                    s.flush()
                    return conv.space(row, owner_rec.name)
            except IntegrityError:
                continue
        raise ConflictError(f"could not allocate a version for space {name!r}")

    def get_space(self, space_id: int) -> SpaceRecord:
        """See :meth:`BaseStorage.get_space`."""
        with self._session(write=False) as s:
            row = s.get(SearchSpaceRow, space_id)
            if row is None:
                raise NotFoundError(f"space {space_id} not found")
            return conv.space(row, self._name(s, row.owner_id))

    def list_spaces(
        self,
        owner: str | None = None,
        name: str | None = None,
        include_archived: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RecordPage[SpaceRecord]:
        """See :meth:`BaseStorage.list_spaces`."""
        with self._session(write=False) as s:
            q = select(SearchSpaceRow).order_by(SearchSpaceRow.id.desc())
            if owner is not None:
                q = q.where(SearchSpaceRow.owner_id == self._owner_id(s, owner))
            if name is not None:
                q = q.where(SearchSpaceRow.name == name)
            if not include_archived:
                q = q.where(SearchSpaceRow.archived.is_(False))
            rows, total = self._page(s, q, limit, offset)
            return RecordPage([conv.space(r, self._name(s, r.owner_id)) for r in rows], total)

    def update_space(self, space_id: int, body: dict[str, Any], log10_cardinality: float | None = None) -> SpaceRecord:
        """See :meth:`BaseStorage.update_space`."""
        with self._session() as s:
            row = s.get(SearchSpaceRow, space_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"space {space_id} not found")
            used_by = s.execute(select(JobRow.id).where(JobRow.space_id == space_id).limit(1)).scalar_one_or_none()
            if used_by is not None:
                raise ConflictError(
                    f"space {space_id} is used by job {used_by} and is immutable; create a new version instead"
                )
            row.body, row.log10_cardinality = body, log10_cardinality
            return conv.space(row, self._name(s, row.owner_id))

    def archive_space(self, space_id: int) -> SpaceRecord:
        """See :meth:`BaseStorage.archive_space`."""
        with self._session() as s:
            row = s.get(SearchSpaceRow, space_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"space {space_id} not found")
            row.archived = True
            return conv.space(row, self._name(s, row.owner_id))

    # ------------------------------------------------------------------ jobs
    def create_job(self, owner: str, space_id: int | None, spec: JobSpec) -> JobRecord:
        """See :meth:`BaseStorage.create_job`."""
        owner_rec = self.get_or_create_owner(owner)
        with self._session() as s:
            if space_id is not None:
                space = s.get(SearchSpaceRow, space_id, with_for_update=True)  # orders against update_space
                if space is None:
                    raise NotFoundError(f"space {space_id} not found")
                if space.archived:
                    raise ConflictError(f"space {space_id} is archived; new jobs cannot use it")
            row = JobRow(
                owner_id=owner_rec.id,
                space_id=space_id,
                name=spec.name,
                kind=spec.kind,
                spec=spec.model_dump(mode="json"),
                state=JobState.QUEUED.value,
                trials_total=0,
                trials_completed=0,
                trials_pruned=0,
                trials_failed=0,
                event_seq=1,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return conv.job(row, owner_rec.name)

    def get_job(self, job_id: int) -> JobRecord:
        """See :meth:`BaseStorage.get_job`."""
        with self._session(write=False) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"job {job_id} not found")
            return conv.job(row, self._name(s, row.owner_id))

    def list_jobs(
        self,
        owner: str | None = None,
        states: list[JobState] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RecordPage[JobRecord]:
        """See :meth:`BaseStorage.list_jobs`."""
        with self._session(write=False) as s:
            q = select(JobRow).order_by(JobRow.id.desc())
            if owner is not None:
                q = q.where(JobRow.owner_id == self._owner_id(s, owner))
            if states:
                q = q.where(JobRow.state.in_([JobState(x).value for x in states]))
            rows, total = self._page(s, q, limit, offset)
            return RecordPage([conv.job(r, self._name(s, r.owner_id)) for r in rows], total)

    def transition_job(
        self,
        job_id: int,
        to_state: JobState,
        expected_from: JobState | list[JobState] | None = None,
        error: str | None = None,
    ) -> JobRecord:
        """See :meth:`BaseStorage.transition_job`."""
        to_state = JobState(to_state)
        allowed = [src for src, targets in JOB_TRANSITIONS.items() if to_state in targets]
        if expected_from is not None:
            expected = {JobState(expected_from)} if isinstance(expected_from, str) else set(expected_from)
            allowed = [src for src in allowed if src in expected]
        now = utcnow()
        values: dict[str, Any] = {"state": to_state.value, "event_seq": JobRow.event_seq + 1}
        if to_state in JOB_TERMINAL:
            values.update(finished_at=now, claimed_by=None, lease_until=None)
        if to_state == JobState.QUEUED:
            values.update(finished_at=None, claimed_by=None, lease_until=None, error=None)
        if error is not None:
            values["error"] = clean_text(error)
        with self._session() as s:
            seq = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_([a.value for a in allowed]))
                .values(**values)
                .returning(JobRow.event_seq)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if seq is None:
                current = s.execute(select(JobRow.state).where(JobRow.id == job_id)).scalar_one_or_none()
                if current is None:
                    raise NotFoundError(f"job {job_id} not found")
                raise ConflictError(f"job {job_id} cannot go from {current} to {to_state.value}")
            if to_state == JobState.RUNNING:
                s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.started_at.is_(None)).values(started_at=now))
            if to_state == JobState.CANCELLED:
                s.execute(
                    update(TrialRow)
                    .where(TrialRow.job_id == job_id, TrialRow.state.in_([t.value for t in _CANCELLABLE_TRIALS]))
                    .values(state=TrialState.CANCELLED.value, finished_at=now, updated_seq=seq)
                    .execution_options(synchronize_session=False)
                )
            row = self._lock_job(s, job_id)
            return conv.job(row, self._name(s, row.owner_id))

    def set_job_note(self, job_id: int, note: str | None) -> bool:
        """See :meth:`BaseStorage.set_job_note`."""
        waiting = (JobState.QUEUED.value, JobState.RUNNING.value)
        with self._session() as s:
            changed = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_(waiting))
                .values(error=clean_text(note), event_seq=JobRow.event_seq + 1)
                .execution_options(synchronize_session=False)
            )
            if rowcount(changed):
                return True
            if s.execute(select(JobRow.id).where(JobRow.id == job_id)).first() is None:
                raise NotFoundError(f"job {job_id} not found")
            return False

    def claim_job(self, dispatcher_id: str, lease_s: float, skip_owners: Collection[str] = ()) -> JobRecord | None:
        """See :meth:`BaseStorage.claim_job`."""
        for _ in range(10):  # lost races (another claimer won the row) retry with the next candidate
            now = utcnow()
            claimable: tuple[Any, ...] = (
                JobRow.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                or_(JobRow.claimed_by.is_(None), JobRow.lease_until.is_(None), JobRow.lease_until < now),
            )
            if skip_owners:
                skipped = select(OwnerRow.id).where(OwnerRow.name.in_(sorted(skip_owners)))
                claimable = (*claimable, JobRow.owner_id.not_in(skipped))
            with self._session() as s:
                q = select(JobRow.id).where(*claimable).order_by(JobRow.created_at, JobRow.id).limit(1)
                if self._is_pg:
                    q = q.with_for_update(skip_locked=True)
                job_id = s.execute(q).scalar_one_or_none()
                if job_id is None:
                    return None
                won = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, *claimable)
                    .values(
                        state=JobState.RUNNING.value,
                        claimed_by=dispatcher_id,
                        lease_until=now + timedelta(seconds=lease_s),
                        lease_epoch=JobRow.lease_epoch + 1,
                        event_seq=JobRow.event_seq + 1,
                    )
                    .returning(JobRow.id)
                    .execution_options(synchronize_session=False)
                ).scalar_one_or_none()
                if won is None:
                    continue
                s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.started_at.is_(None)).values(started_at=now))
                row = self._lock_job(s, job_id)
                return conv.job(row, self._name(s, row.owner_id))
        return None

    def renew_lease(self, job_id: int, dispatcher_id: str, lease_s: float) -> JobRecord:
        """See :meth:`BaseStorage.renew_lease`."""
        with self._session() as s:
            n = rowcount(
                s.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == job_id,
                        JobRow.claimed_by == dispatcher_id,
                        JobRow.state == JobState.RUNNING.value,
                    )
                    .values(lease_until=utcnow() + timedelta(seconds=lease_s))
                    .execution_options(synchronize_session=False)
                )
            )
            row = self._lock_job(s, job_id)
            if n == 0:
                raise ConflictError(
                    f"job {job_id} is {row.state} and claimed by {row.claimed_by!r}, not {dispatcher_id!r}"
                )
            return conv.job(row, self._name(s, row.owner_id))

    def release_job(self, job_id: int, dispatcher_id: str) -> None:
        """See :meth:`BaseStorage.release_job`."""
        with self._session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.claimed_by == dispatcher_id)
                .values(claimed_by=None, lease_until=None)
            )

    def save_strategy_state(self, job_id: int, state: dict[str, Any]) -> None:
        """See :meth:`BaseStorage.save_strategy_state`."""
        with self._session() as s:
            if rowcount(s.execute(update(StrategyStateRow).where(StrategyStateRow.job_id == job_id).values(
                state=state, updated_at=utcnow()
            ))) == 0:  # fmt: skip
                if s.execute(select(JobRow.id).where(JobRow.id == job_id)).first() is None:
                    raise NotFoundError(f"job {job_id} not found")
                s.add(StrategyStateRow(job_id=job_id, state=state, updated_at=utcnow()))

    def load_strategy_state(self, job_id: int) -> dict[str, Any] | None:
        """See :meth:`BaseStorage.load_strategy_state`."""
        with self._session(write=False) as s:
            row = s.execute(select(StrategyStateRow.state).where(StrategyStateRow.job_id == job_id)).first()
            if row is not None:
                return row.state
            if s.execute(select(JobRow.id).where(JobRow.id == job_id)).first() is None:
                raise NotFoundError(f"job {job_id} not found")
            return None

    def count_jobs_by_state(self) -> dict[JobState, int]:
        """See :meth:`BaseStorage.count_jobs_by_state`."""
        with self._session(write=False) as s:
            rows = s.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
        counts = {state: 0 for state in JobState}
        counts.update({JobState(state): int(n) for state, n in rows})
        return counts

    # ------------------------------------------------------------------ schema
    def schema_status(self) -> SchemaStatus:
        """See :meth:`BaseStorage.schema_status`."""
        from nas_service.storage.schema import current_revision, head_revision

        current, head = current_revision(self.url), head_revision()
        return SchemaStatus(current=current, head=head, up_to_date=current == head)

    def ping(self) -> None:
        """See :meth:`BaseStorage.ping`."""
        with self._session(write=False) as s:
            s.execute(select(1))

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()

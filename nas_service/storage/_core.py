"""Shared plumbing of the SQLAlchemy storage: engine, session scope and row-locking helpers."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from nas_service.jobspec import JOB_TERMINAL
from nas_service.storage._engine import SessionScope, make_engine
from nas_service.storage.errors import NotFoundError
from nas_service.storage.orm import JobRow, OwnerRow, TrialRow

__all__ = ["JOB_TERMINAL", "SQLCore", "clean_text", "rowcount"]


def clean_text(text: str | None) -> str | None:
    """Free text (errors, worker names) without NUL characters, which Postgres text columns refuse."""
    return text.replace("\x00", "\ufffd") if text else text


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE (``Session.execute`` is typed as returning a plain ``Result``)."""
    return int(cast("CursorResult[Any]", result).rowcount)


class SQLCore:
    """Engine, session scope and helpers used by every SQLAlchemy storage operation."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        """Connect (lazily) to ``url``; ``engine_kwargs`` go to :func:`sqlalchemy.create_engine`."""
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._session = SessionScope(self.engine)
        self._is_pg = self.engine.dialect.name == "postgresql"
        self._owner_names: dict[int, str] = {}

    # ------------------------------------------------------------------ helpers
    def _name(self, s: Session, owner_id: int) -> str:
        name = self._owner_names.get(owner_id)
        if name is None:
            name = s.execute(select(OwnerRow.name).where(OwnerRow.id == owner_id)).scalar_one()
            self._owner_names[owner_id] = name
        return name

    @staticmethod
    def _owner_id(s: Session, name: str) -> int | None:
        return s.execute(select(OwnerRow.id).where(OwnerRow.name == name)).scalar_one_or_none()

    def _lock_job(self, s: Session, job_id: int) -> JobRow:
        # The spec (JSON) is not decoded under the lock: the hot paths (create, claim, report) never need it,
        # and a caller that does (a JobRecord) loads it on first access.
        row = s.get(JobRow, job_id, with_for_update=True, populate_existing=True, options=[defer(JobRow.spec)])
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return row

    @staticmethod
    def _bump(s: Session, job_id: int) -> int:
        """Next event sequence number of a job (the job row must be locked by the caller)."""
        stmt = (
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(event_seq=JobRow.event_seq + 1)
            .returning(JobRow.event_seq)
            .execution_options(synchronize_session=False)
        )
        return int(s.execute(stmt).scalar_one())

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._is_pg else sqlite.insert)(table)

    def _trial_row(self, s: Session, trial_id: int, lock: bool = False) -> TrialRow:
        row = s.get(TrialRow, trial_id, with_for_update=lock, populate_existing=lock)
        if row is None:
            raise NotFoundError(f"trial {trial_id} not found")
        return row

    def _trial_job_id(self, s: Session, trial_id: int) -> int:
        job_id = s.execute(select(TrialRow.job_id).where(TrialRow.id == trial_id)).scalar_one_or_none()
        if job_id is None:
            raise NotFoundError(f"trial {trial_id} not found")
        return job_id

    @staticmethod
    def _page(s: Session, query: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
        total = s.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
        rows = s.execute(query.limit(limit).offset(offset)).scalars().all()
        return list(rows), int(total)

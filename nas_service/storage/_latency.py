"""Latency-target and latency-predictor operations of the SQLAlchemy storage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from nas_service.latency.targets import LatencyTarget
from nas_service.storage._core import SQLCore, rowcount
from nas_service.storage.domain import LatencyTargetRecord
from nas_service.storage.errors import ConflictError, IntegrityError, NotFoundError
from nas_service.storage.orm import LatencyPredictorRow, LatencyTargetRow, OwnerRow, utcnow


class LatencyOps(SQLCore):
    """Stored latency targets and the predictor document of each target."""

    def _target_record(self, row: LatencyTargetRow, owner: str) -> LatencyTargetRecord:
        target = LatencyTarget.model_validate({**row.settings, "name": row.name})
        return LatencyTargetRecord(target=target, owner=owner, created_at=row.created_at, updated_at=row.updated_at)

    def create_latency_target(self, owner: str, target: LatencyTarget) -> LatencyTargetRecord:
        """See :meth:`BaseStorage.create_latency_target`."""
        owner_row = self.get_or_create_owner(owner)  # type: ignore[attr-defined]
        settings = target.model_dump(mode="json", exclude={"name"})
        try:
            with self._session() as s:
                now = utcnow()
                row = LatencyTargetRow(
                    name=target.name, owner_id=owner_row.id, settings=settings, created_at=now, updated_at=now
                )
                s.add(row)
                s.flush()
                return self._target_record(row, owner)
        except IntegrityError:
            raise ConflictError(f"latency target {target.name!r} exists already") from None

    def get_latency_target(self, name: str) -> LatencyTargetRecord:
        """See :meth:`BaseStorage.get_latency_target`."""
        with self._session(write=False) as s:
            row = s.execute(select(LatencyTargetRow).where(LatencyTargetRow.name == name)).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"latency target {name!r} not found")
            return self._target_record(row, self._name(s, row.owner_id))

    def list_latency_targets(self) -> list[LatencyTargetRecord]:
        """See :meth:`BaseStorage.list_latency_targets`."""
        with self._session(write=False) as s:
            rows = s.execute(
                select(LatencyTargetRow, OwnerRow.name)
                .join(OwnerRow, OwnerRow.id == LatencyTargetRow.owner_id)
                .order_by(LatencyTargetRow.name)
            ).all()
            return [self._target_record(row, owner) for row, owner in rows]

    def update_latency_target(self, target: LatencyTarget) -> LatencyTargetRecord:
        """See :meth:`BaseStorage.update_latency_target`."""
        settings = target.model_dump(mode="json", exclude={"name"})
        with self._session() as s:
            n = rowcount(
                s.execute(
                    update(LatencyTargetRow)
                    .where(LatencyTargetRow.name == target.name)
                    .values(settings=settings, updated_at=utcnow())
                )
            )
            if n == 0:
                raise NotFoundError(f"latency target {target.name!r} not found")
            row = s.execute(select(LatencyTargetRow).where(LatencyTargetRow.name == target.name)).scalar_one()
            return self._target_record(row, self._name(s, row.owner_id))

    def delete_latency_target(self, name: str) -> None:
        """See :meth:`BaseStorage.delete_latency_target`."""
        with self._session() as s:
            if rowcount(s.execute(delete(LatencyTargetRow).where(LatencyTargetRow.name == name))) == 0:
                raise NotFoundError(f"latency target {name!r} not found")
            s.execute(delete(LatencyPredictorRow).where(LatencyPredictorRow.target == name))

    def get_latency_predictor(self, target: str) -> dict[str, Any] | None:
        """See :meth:`BaseStorage.get_latency_predictor`."""
        with self._session(write=False) as s:
            return s.execute(
                select(LatencyPredictorRow.body).where(LatencyPredictorRow.target == target)
            ).scalar_one_or_none()

    def save_latency_predictor(self, target: str, body: dict[str, Any]) -> int:
        """See :meth:`BaseStorage.save_latency_predictor`."""
        with self._session() as s:
            stmt = self._insert(LatencyPredictorRow).values(target=target, body=body, version=1, updated_at=utcnow())
            stmt = stmt.on_conflict_do_update(
                index_elements=["target"],
                set_={"body": stmt.excluded.body, "version": LatencyPredictorRow.version + 1, "updated_at": utcnow()},
            ).returning(LatencyPredictorRow.version)
            return int(s.execute(stmt).scalar_one())

"""The storage hands out frozen, detached snapshots, never ORM rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from nas_service.storage import BaseStorage, JobRecord, SQLAlchemyStorage
from nas_service.storage.orm import Base
from nas_service.storage.testing import run_trial


def test_records_are_frozen_snapshots(storage: BaseStorage, make_job: Callable[..., JobRecord]) -> None:
    job = make_job()
    storage.transition_job(job.id, "running")  # type: ignore[arg-type]
    trial_id = run_trial(storage, job.id, 0.5, 1.0)
    records: list[object] = [
        job,
        storage.get_space(job.space_id or 0),
        storage.get_trial(trial_id),
        storage.get_or_create_owner("alice"),
        storage.create_token("alice").record,
        *storage.pareto(job.id),
    ]
    for record in records:
        assert dataclasses.is_dataclass(record) and not isinstance(record, Base)
        field = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
    assert isinstance(storage, SQLAlchemyStorage)

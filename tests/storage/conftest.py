"""Factories for the storage contract suite (the ``storage`` fixture lives in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nas_service.jobspec import JobSpec
from nas_service.storage import BaseStorage, JobRecord


@pytest.fixture
def make_job(storage: BaseStorage) -> Callable[..., JobRecord]:
    """Create a queued job (and a space for it) for an owner; keyword arguments go to ``JobSpec``."""

    def _make(owner: str = "alice", **spec: Any) -> JobRecord:
        space = storage.create_space(owner, "space", {"stages": []}, 2.0)
        return storage.create_job(owner, space.id, JobSpec(**spec))

    return _make

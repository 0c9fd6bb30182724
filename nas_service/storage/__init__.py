"""Persistence of spaces, jobs, trials, metrics, latency measurements and tokens.

Use :func:`open_storage` (or :class:`SQLAlchemyStorage`) to get a :class:`BaseStorage`; everything it
returns is a frozen
record from :mod:`nas_service.storage.domain`.
"""

from __future__ import annotations

from nas_service.storage.base import BaseStorage, SortOrder, TrialSort
from nas_service.storage.domain import (
    TRIAL_POINT_COLUMNS,
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
from nas_service.storage.errors import (
    ConflictError,
    IntegrityError,
    InvalidValueError,
    LeaseLostError,
    NotFoundError,
    SchemaOutOfDate,
    StorageError,
    StorageUnavailable,
)
from nas_service.storage.fencing import fenced
from nas_service.storage.sqlalchemy_storage import SQLAlchemyStorage, hash_token


def open_storage(url: str, check_schema: bool = True, auto_upgrade: bool = False) -> SQLAlchemyStorage:
    """Open the storage at ``url``, checking (and for embedded SQLite optionally upgrading) the schema first.

    Raises:
        SchemaOutOfDate: The schema is not at head; the message names ``nas db upgrade``.
    """
    if check_schema:
        from nas_service.storage.schema import ensure_schema_current

        ensure_schema_current(url, auto_upgrade=auto_upgrade)
    return SQLAlchemyStorage(url)


__all__ = [
    "BaseStorage",
    "ConflictError",
    "CreatedToken",
    "IntegrityError",
    "InvalidValueError",
    "JobRecord",
    "LatencyRecord",
    "LatencyTargetRecord",
    "LeaseLostError",
    "NotFoundError",
    "Owner",
    "RecordPage",
    "SQLAlchemyStorage",
    "SchemaOutOfDate",
    "SchemaStatus",
    "SortOrder",
    "SpaceRecord",
    "StorageError",
    "StorageUnavailable",
    "TRIAL_POINT_COLUMNS",
    "TokenRecord",
    "TokenScope",
    "TrialColumns",
    "TrialMetric",
    "TrialRecord",
    "TrialSort",
    "fenced",
    "hash_token",
    "open_storage",
]

"""Which artifact store a process uses (``NAS_ARTIFACT_STORE``), and the keys of the artifacts the service keeps."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path

from nas_service.artifacts.base import ArtifactError, BaseArtifactStore
from nas_service.artifacts.database import DatabaseArtifactStore
from nas_service.artifacts.filesystem import FileSystemArtifactStore
from nas_service.settings import ArtifactStoreKind
from nas_service.storage.base import BaseStorage
from nas_service.storage.errors import StorageError
from nas_service.storage.sqlalchemy_storage import SQLAlchemyStorage

log = logging.getLogger(__name__)

#: The directory under the data dir that the filesystem store uses.
ARTIFACTS_DIR = "artifacts"

_stores: weakref.WeakKeyDictionary[BaseStorage, dict[tuple[str, str], BaseArtifactStore]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def trial_weights_key(trial_id: int | str) -> str:
    """The key of a trial's trained weights (``torch.save`` of its ``state_dict``): ``trials/<id>/weights.pt``."""
    return f"trials/{int(trial_id)}/weights.pt"


def artifact_store_for(
    storage: BaseStorage, data_dir: str | os.PathLike[str], kind: ArtifactStoreKind
) -> BaseArtifactStore:
    """The artifact store of ``kind`` beside ``storage`` (one per storage, kind and data dir; cached).

    Args:
        storage: The open storage; the database store shares its engine (and so its database).
        data_dir: The process's data dir; the filesystem store keeps its files under ``<data_dir>/artifacts``.
        kind: ``database`` (rows in the service's database: every host sees them) or ``filesystem``.

    Raises:
        ValueError: An unknown kind, or ``database`` beside a storage that is not SQL-backed.
    """
    root = str(Path(data_dir) / ARTIFACTS_DIR)
    with _lock:
        per_storage = _stores.setdefault(storage, {})
        store = per_storage.get((kind, root))
        if store is None:
            if kind == "filesystem":
                store = FileSystemArtifactStore(root)
            elif kind == "database":
                if not isinstance(storage, SQLAlchemyStorage):
                    raise ValueError(f"the database artifact store needs an SQL storage, not {type(storage).__name__}")
                store = DatabaseArtifactStore(storage.engine)
            else:
                raise ValueError(f"unknown artifact store {kind!r}: choose database or filesystem")
            per_storage[(kind, root)] = store
        return store


def save_trial_weights(
    storage: BaseStorage,
    data_dir: str | os.PathLike[str],
    trial_id: int,
    weights: bytes,
    kind: ArtifactStoreKind | None = None,
) -> bool:
    """Store a trial's trained weights where the API's ``/trials/{id}/weights`` route reads them.

    A failure is logged, not raised: the trial's result is already stored; only its export loses the weights.

    Args:
        storage: The controller's storage.
        data_dir: The process's data dir (the filesystem store's root is under it).
        trial_id: The trial.
        weights: ``torch.save`` bytes of the trained ``state_dict``.
        kind: The store (default: the ``artifact_store`` setting, ``NAS_ARTIFACT_STORE``).

    Returns:
        Whether the weights were stored.
    """
    if kind is None:
        from nas_service.settings import get_settings

        kind = get_settings().artifact_store
    key = trial_weights_key(trial_id)
    try:
        artifact_store_for(storage, data_dir, kind).put(key, weights)
    except (OSError, StorageError, ArtifactError) as exc:
        log.warning("trial %s: cannot store its weights (%s store, %s): %s", trial_id, kind, key, exc)
        return False
    return True

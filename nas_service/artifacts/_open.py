"""Which artifact store a process uses (``NAS_ARTIFACT_STORE``), and the keys of the artifacts the service keeps."""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

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


def trial_preprocessing_key(trial_id: int | str) -> str:
    """The key of a trial's input preprocessing (JSON of :class:`nas_service.export.Preprocessing`)."""
    return f"trials/{int(trial_id)}/preprocessing.json"


def trial_checkpoint_key(trial_id: int | str) -> str:
    """The key of a stage-two training's last checkpoint: ``trials/<id>/checkpoint.pt`` (overwritten each epoch)."""
    return f"trials/{int(trial_id)}/checkpoint.pt"


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
    return _put(
        storage, data_dir, trial_weights_key(trial_id), weights, kind, f"trial {trial_id}: cannot store its weights"
    )


def save_trial_preprocessing(
    storage: BaseStorage, data_dir: str | os.PathLike[str], trial_id: int, doc: dict[str, Any]
) -> bool:
    """Store what a trial's trained network takes as input, beside its weights (a failure is logged)."""
    data = json.dumps(doc, sort_keys=True).encode()
    return _put(
        storage,
        data_dir,
        trial_preprocessing_key(trial_id),
        data,
        None,
        f"trial {trial_id}: cannot store its preprocessing",
    )


def save_trial_checkpoint(
    storage: BaseStorage,
    data_dir: str | os.PathLike[str],
    trial_id: int,
    data: bytes,
    kind: ArtifactStoreKind | None = None,
) -> bool:
    """Store (overwrite) a trial's last training checkpoint; a failure is logged (the retry then restarts)."""
    what = f"trial {trial_id}: cannot store its checkpoint"
    return _put(storage, data_dir, trial_checkpoint_key(trial_id), data, kind, what)


def load_trial_checkpoint(
    storage: BaseStorage, data_dir: str | os.PathLike[str], trial_id: int, kind: ArtifactStoreKind | None = None
) -> bytes | None:
    """A trial's last stored checkpoint, or ``None`` when there is none (or it cannot be read: logged)."""
    what = f"trial {trial_id}: cannot read its checkpoint"
    return _get(storage, data_dir, trial_checkpoint_key(trial_id), kind, what)


def load_trial_weights(
    storage: BaseStorage, data_dir: str | os.PathLike[str], trial_id: int, kind: ArtifactStoreKind | None = None
) -> bytes | None:
    """A trial's stored trained weights, or ``None`` when there are none (or they cannot be read: logged)."""
    return _get(storage, data_dir, trial_weights_key(trial_id), kind, f"trial {trial_id}: cannot read its weights")


def _get(
    storage: BaseStorage, data_dir: str | os.PathLike[str], key: str, kind: ArtifactStoreKind | None, what: str
) -> bytes | None:
    kind = kind or _default_kind()
    try:
        store = artifact_store_for(storage, data_dir, kind)
        return store.get(key) if store.exists(key) else None
    except (OSError, StorageError, ArtifactError) as exc:
        log.warning("%s (%s store, %s): %s", what, kind, key, exc)
        return None


def _default_kind() -> ArtifactStoreKind:
    from nas_service.settings import get_settings

    return get_settings().artifact_store


def _put(
    storage: BaseStorage,
    data_dir: str | os.PathLike[str],
    key: str,
    data: bytes,
    kind: ArtifactStoreKind | None,
    what: str,
) -> bool:
    kind = kind or _default_kind()
    try:
        artifact_store_for(storage, data_dir, kind).put(key, data)
    except (OSError, StorageError, ArtifactError) as exc:
        log.warning("%s (%s store, %s): %s", what, kind, key, exc)
        return False
    return True

"""Artifact stores: trained weights (and checkpoints) by key, readable from every host of a deployment.

:class:`BaseArtifactStore` is the interface (put, stat, iter_chunks/get, exists, delete, list by prefix); the
backends are :class:`DatabaseArtifactStore` (rows of the service's own database, the default: a dispatcher on
another host with its own data dir stores what the API serves) and :class:`FileSystemArtifactStore`
(``<data_dir>/artifacts``). The ``artifact_store`` setting (``NAS_ARTIFACT_STORE``) picks one; every process
of a deployment must use the same.
"""

from __future__ import annotations

from nas_service.artifacts._open import (
    ARTIFACTS_DIR,
    ArtifactStoreKind,
    artifact_store_for,
    load_trial_checkpoint,
    load_trial_weights,
    save_trial_checkpoint,
    save_trial_preprocessing,
    save_trial_weights,
    trial_checkpoint_key,
    trial_preprocessing_key,
    trial_weights_key,
)
from nas_service.artifacts.base import (
    CHUNK_SIZE,
    ArtifactError,
    ArtifactInfo,
    ArtifactNotFound,
    BaseArtifactStore,
    InvalidArtifactKey,
    check_key,
)
from nas_service.artifacts.database import DatabaseArtifactStore
from nas_service.artifacts.filesystem import FileSystemArtifactStore

__all__ = [
    "ARTIFACTS_DIR",
    "CHUNK_SIZE",
    "ArtifactError",
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactStoreKind",
    "BaseArtifactStore",
    "DatabaseArtifactStore",
    "FileSystemArtifactStore",
    "InvalidArtifactKey",
    "artifact_store_for",
    "check_key",
    "load_trial_checkpoint",
    "load_trial_weights",
    "save_trial_checkpoint",
    "save_trial_preprocessing",
    "save_trial_weights",
    "trial_checkpoint_key",
    "trial_preprocessing_key",
    "trial_weights_key",
]

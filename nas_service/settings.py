"""Service settings, read from ``NAS_*`` environment variables.

With nothing set, everything is embedded: a SQLite file under the data dir and an in-process local Ray.
``NAS_DATABASE_URL`` points at Postgres and ``NAS_RAY_ADDRESS`` at a Ray cluster; nothing else changes.

``NAS_ARTIFACT_STORE`` says where trained weights (and checkpoints) live: ``database`` (the default: rows of the
same database, so ``nas serve --no-dispatcher`` exports what a ``nas dispatcher`` on another host with its own
data dir stored) or ``filesystem`` (``<data_dir>/artifacts``: only for processes that share the data dir).
Every process of one deployment must use the same store.

``NAS_MAX_CPU_PER_TRIAL``, ``NAS_MAX_GPU_PER_TRIAL``, ``NAS_MAX_MEMORY_PER_TRIAL`` (bytes) and
``NAS_MAX_CUSTOM_PER_TRIAL`` cap a job's ``resources`` (422 above them). ``NAS_UNSCHEDULABLE_AFTER_S``: an attempt no
worker took within it becomes ``unschedulable`` and fails its job. ``NAS_OWNER_MAX_JOBS`` (default: one less than a
dispatcher's ``max_jobs``) and ``NAS_OWNER_MAX_RUNNING`` (default: no limit) are per-owner quotas of each dispatcher.

``NAS_METRICS_TOKEN``: when set, ``GET /metrics`` needs ``Authorization: Bearer <that token>``; unset, it is open
(the default server binds to loopback only; set it before exposing the port).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where artifacts are stored: rows of the service's database, or files under ``<data_dir>/artifacts``.
ArtifactStoreKind = Literal["database", "filesystem"]


class Settings(BaseSettings):
    """All runtime settings of the controller, dispatcher and CLI."""

    model_config = SettingsConfigDict(env_prefix="NAS_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".nas-service")
    database_url: str | None = None
    ray_address: str | None = None
    api_url: str = "http://127.0.0.1:8765"
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    artifact_store: ArtifactStoreKind = "database"
    metrics_token: str | None = Field(default=None, min_length=16)
    # Resources and fairness (nas_service/orchestration/fairness.py): caps on what one trial may ask for, how long
    # an attempt may wait for a worker before it is ``unschedulable``, and per-owner quotas of one dispatcher.
    max_cpu_per_trial: float = Field(default=64.0, gt=0)
    max_gpu_per_trial: float = Field(default=8.0, ge=0)
    max_memory_per_trial: float = Field(default=256 * 2**30, gt=0)
    max_custom_per_trial: float = Field(default=64.0, ge=0)
    unschedulable_after_s: float = Field(default=600.0, gt=0)
    owner_max_jobs: int | None = Field(default=None, ge=1)
    owner_max_running: int | None = Field(default=None, ge=1)

    def resolved_database_url(self) -> str:
        """The database URL; the embedded SQLite file under ``data_dir`` when none is set."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'nas.db'}"


def settings_error_message(exc: ValidationError) -> str | None:
    """One line naming each bad ``NAS_*`` variable of a failed :class:`Settings` load; ``None`` for other models.

    The CLI prints it instead of a traceback (exit code 2).
    """
    if exc.title != Settings.__name__:
        return None
    parts = [
        f"NAS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors(include_url=False)
    ]
    return "invalid setting " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache with ``get_settings.cache_clear()``)."""
    return Settings()

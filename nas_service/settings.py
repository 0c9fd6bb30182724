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

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where artifacts are stored: rows of the service's database, or files under ``<data_dir>/artifacts``.
ArtifactStoreKind = Literal["database", "filesystem"]
if TYPE_CHECKING:
    from nas_service.limits import Limits


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
    #: How long a job whose latency target's Ray resource no node advertises waits, shown as blocked, before it
    #: fails with that reason (``NAS_LATENCY_NODE_WAIT_S``; a trial measuring when such a node left waits as long).
    latency_node_wait_s: float = Field(default=300.0, gt=0)
    owner_max_jobs: int | None = Field(default=None, ge=1)
    owner_max_running: int | None = Field(default=None, ge=1)

    # Server-side caps on what one request may cost (nas_service.limits; documented in the README).
    #: Largest request body in bytes (413 above it, chunked bodies included).
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    #: Parameters / MACs of any network a job trains (the job's own constraints are lowered to these).
    max_params: int = Field(200_000_000, ge=1)
    max_macs: int = Field(50_000_000_000, ge=1)
    #: Blocks of a network after repeats, block strings per stage, and per-block caps.
    max_layers: int = Field(256, ge=1)
    max_blocks_per_stage: int = Field(32, ge=1)
    max_kernel_size: int = Field(15, ge=1)
    max_repeats: int = Field(32, ge=1)
    max_channels: int = Field(8192, ge=1)
    #: Free-form JSON (strategy settings, inline documents): items per list/mapping, string length, depth.
    max_list_items: int = Field(1000, ge=1)
    max_string_chars: int = Field(10_000, ge=1)
    max_json_depth: int = Field(32, ge=1, le=200)

    #: The node address of the embedded Ray (no ``NAS_RAY_ADDRESS``): a loopback address, so its agents and the
    #: addresses it advertises stay on this machine. Not 127.0.0.1: Ray rewrites that to the machine's address.
    embedded_ray_ip: str = "127.0.0.2"
    #: Where ``proxy.data_path`` may point (``os.pathsep``-separated); default ``<data_dir>/datasets``.
    data_roots: str | None = None

    def resolved_data_roots(self) -> list[Path]:
        """The data roots, resolved (see :mod:`nas_service.datapaths`)."""
        from nas_service.datapaths import parse_roots

        return parse_roots(self.data_roots) if self.data_roots else [(self.data_dir / "datasets").resolve()]

    def limits(self) -> Limits:
        """The caps above as a :class:`nas_service.limits.Limits`."""
        from nas_service.limits import Limits

        names = [f.name for f in dataclasses.fields(Limits)]
        return Limits(**{name: getattr(self, name) for name in names})

    def resolved_database_url(self) -> str:
        """The database URL; the embedded SQLite file under ``data_dir`` when none is set."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # it holds the database and the admin token: the owner's only
            if self.data_dir.stat().st_mode & 0o077:
                self.data_dir.chmod(0o700)
        except PermissionError:
            pass
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

"""What a search job asks for, and what a trial reports: the models the API, workers, strategies and SDK share.

Every user-supplied field is capped; a bad value fails pydantic validation with the field's path in the error.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nas_service.arch.spec import Architecture


class JobState(StrEnum):
    """Life cycle of a job: queued -> running -> completed | failed | cancelled (resume: cancelled/failed -> queued)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Job states a job never leaves by itself (only ``resume`` queues a failed or cancelled job again): the one
#: definition the dispatcher, storage, API and SDK share.
JOB_TERMINAL: frozenset[JobState] = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
}


class TrialState(StrEnum):
    """Life cycle of a trial.

    ``pruned`` is an early stop by the multi-fidelity scheduler, ``stale`` a lost worker (missed heartbeat; it is
    retried), ``failed`` an error raised by the trial itself, ``rejected`` a candidate over the job's caps (never
    trained), ``duplicate`` a repeat of an architecture already trained with the same proxy settings,
    ``unschedulable`` an attempt no worker could take within the dispatcher's ``unschedulable_after_s`` (its
    ``resources`` fit no node; the job fails with that reason).
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    STALE = "stale"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    UNSCHEDULABLE = "unschedulable"


TRIAL_TERMINAL: frozenset[TrialState] = frozenset(
    {
        TrialState.COMPLETED,
        TrialState.PRUNED,
        TrialState.FAILED,
        TrialState.REJECTED,
        TrialState.DUPLICATE,
        TrialState.CANCELLED,
        TrialState.UNSCHEDULABLE,
    }
)


#: Resource names a job may ask for besides custom ``kind:name`` ones (Ray's units: CPUs, GPUs, bytes).
STANDARD_RESOURCES = ("cpu", "gpu", "memory")
_CUSTOM_RESOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.-]{1,64}")


def resource_problem(key: str, amount: Any) -> str | None:
    """Why ``key: amount`` is not a valid trial resource request (``None`` when it is; caps are checked apart).

    A key is ``cpu``, ``gpu``, ``memory`` or a custom cluster resource ``kind:name`` (``latency:pixel7``); an
    amount is a finite, non-negative number (not a boolean).
    """
    if key not in STANDARD_RESOURCES and not _CUSTOM_RESOURCE.fullmatch(key):
        return "unknown resource (cpu, gpu, memory or a custom cluster resource named kind:name)"
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return "must be a number"
    if not math.isfinite(amount) or amount < 0:
        return "must be a finite number, not negative"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardConfig(_Model):
    """MnasNet reward ``ACC * (LAT / T) ** w`` with ``w = alpha`` if ``LAT <= T`` else ``beta``.

    ``preset`` fills alpha/beta: ``soft`` = (-0.07, -0.07) (MnasNet), ``hard`` = (0, -1), ``mobilenetv3`` =
    (-0.15, -0.15). Explicit alpha/beta win over the preset.
    """

    target_ms: float = Field(5.0, gt=0, le=1e6)
    alpha: float | None = Field(None, ge=-10, le=10)
    beta: float | None = Field(None, ge=-10, le=10)
    preset: Literal["soft", "hard", "mobilenetv3"] | None = "soft"

    @model_validator(mode="after")
    def _fill_from_preset(self) -> RewardConfig:
        presets = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0), "mobilenetv3": (-0.15, -0.15)}
        a, b = presets.get(self.preset or "soft", (-0.07, -0.07))
        if self.alpha is None:
            object.__setattr__(self, "alpha", a)
        if self.beta is None:
            object.__setattr__(self, "beta", b)
        return self


class ProxyConfig(_Model):
    """The short proxy training task run for every candidate.

    ``dataset``: ``digits`` (scikit-learn's bundled 8x8 digits, upsampled), ``synthetic`` (a seeded toy task),
    ``cifar10`` (python pickle directory at ``data_path``), ``imagefolder`` (``data_path/<class>/*.png|jpg``) or
    ``npz`` (``data_path`` with arrays ``x`` (N,H,W[,C]) and ``y`` (N,)).
    """

    dataset: Literal["digits", "synthetic", "cifar10", "imagefolder", "npz"] = "digits"
    data_path: str | None = Field(None, max_length=1024)
    epochs: int = Field(3, ge=1, le=500)
    batch_size: int = Field(64, ge=1, le=4096)
    resolution: int = Field(32, ge=8, le=1024)
    optimizer: Literal["sgd", "rmsprop", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0, le=10)
    weight_decay: float = Field(4e-5, ge=0, le=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    max_train_samples: int | None = Field(None, ge=1, le=10_000_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    threads: int = Field(1, ge=1, le=256)


class LatencyConfig(_Model):
    """How latency is measured on the worker's own device (median of repeats after warm-up)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(1, ge=1, le=1024)
    warmup: int = Field(10, ge=0, le=10_000)
    repeats: int = Field(30, ge=1, le=100_000)
    threads: int = Field(1, ge=1, le=256)


class BudgetConfig(_Model):
    """How much a job may spend."""

    max_trials: int = Field(20, ge=1, le=100_000)
    max_concurrent: int = Field(2, ge=1, le=1024)
    max_wall_s: float | None = Field(None, gt=0, le=30 * 24 * 3600)
    max_attempts: int = Field(3, ge=1, le=20)


class ConstraintsConfig(_Model):
    """Hard caps: candidates over them are rejected before training and the strategy is told."""

    max_params: int | None = Field(None, ge=1, le=10**11)
    max_macs: int | None = Field(None, ge=1, le=10**14)


class StrategyConfig(_Model):
    """Which search strategy and its settings (``name`` is a registered strategy)."""

    name: Literal["random", "grid", "tpe", "nsga2", "evolution", "mnas-rl", "compound-scaling"] = "random"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    settings: dict[str, Any] = Field(default_factory=dict, max_length=64)
    multi_fidelity: Literal["none", "asha", "hyperband"] = "none"
    reduction_factor: int = Field(3, ge=2, le=10)
    min_epochs: int = Field(1, ge=1, le=500)


class ScalingConfig(_Model):
    """EfficientNet's compound scaling job: grid-search alpha, beta, gamma at phi=1, then scale to phi=1..max_phi."""

    base: str | list[list[str]] | Architecture = Field(..., description="a preset name, a trial id or block strings")
    max_phi: int = Field(3, ge=1, le=8)
    flops_target: float = Field(2.0, gt=1, le=4)
    tolerance: float = Field(0.1, gt=0, le=1)
    grid_step: float = Field(0.05, gt=0, le=0.5)


class JobSpec(_Model):
    """Everything a job asks for; stored with the job and handed to the dispatcher and workers."""

    name: str = Field("search", min_length=1, max_length=200)
    kind: Literal["search", "scaling"] = "search"
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    constraints: ConstraintsConfig = Field(default_factory=ConstraintsConfig)
    scaling: ScalingConfig | None = None
    resources: dict[str, float] = Field(
        default_factory=lambda: {"cpu": 1.0, "gpu": 0.0},
        max_length=8,
        description=(
            "What one trial needs of a worker: `cpu`, `gpu`, `memory` (bytes) and custom cluster resources named "
            "`kind:name` (e.g. `latency:pixel7`); finite, not negative, at most the server's caps."
        ),
    )

    @field_validator("resources", mode="before")
    @classmethod
    def _known_resources(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, amount in value.items():
                problem = resource_problem(str(key), amount)
                if problem is not None:
                    raise ValueError(f"resources.{key}: {problem}")
        return value

    @model_validator(mode="after")
    def _scaling_needs_config(self) -> JobSpec:
        if self.kind == "scaling" and self.scaling is None:
            raise ValueError("a scaling job needs 'scaling' settings")
        return self


class EpochReport(_Model):
    """One intermediate result streamed by a worker while a trial trains."""

    epoch: int = Field(..., ge=0)
    val_accuracy: float = Field(..., ge=0, le=1)
    train_loss: float | None = None
    elapsed_s: float | None = Field(None, ge=0)


class LatencyMeasurement(_Model):
    """Latency of one model on one device."""

    device: str = Field(..., max_length=200)
    device_kind: Literal["cpu", "cuda"] = "cpu"
    batch_size: int = Field(1, ge=1)
    threads: int = Field(1, ge=1)
    median_ms: float = Field(..., gt=0)
    p90_ms: float = Field(..., gt=0)
    mean_ms: float = Field(..., gt=0)
    std_ms: float = Field(0.0, ge=0)
    samples: int = Field(..., ge=1)
    samples_ms: list[float] = Field(default_factory=list, max_length=100_000)


class TrialResult(_Model):
    """The final report of a trial attempt (what a worker sends back)."""

    state: TrialState
    accuracy: float | None = Field(None, ge=0, le=1)
    latency: LatencyMeasurement | None = None
    params: int | None = Field(None, ge=0)
    macs: int | None = Field(None, ge=0)
    epochs_run: int = Field(0, ge=0)
    train_seconds: float | None = Field(None, ge=0)
    wall_seconds: float | None = Field(None, ge=0)
    error: str | None = Field(None, max_length=20_000)
    node: str | None = Field(None, max_length=200)
    worker: str | None = Field(None, max_length=200)
    device: str | None = Field(None, max_length=200)

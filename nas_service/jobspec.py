"""What a search job asks for, and what a trial reports: the models the API, workers, strategies and SDK share.

Every user-supplied field is capped; a bad value fails pydantic validation with the field's path in the error.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nas_service.arch.spec import Architecture
from nas_service.detection.job import DetectionJobConfig
from nas_service.latency.targets import LatencyTarget
from nas_service.limits import holds_bool, numeric_annotation

#: Names of spaces and jobs: a letter or digit first, then letters, digits, spaces and ``._-`` (no path
#: separators, no control characters).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._\-]*$"


#: ``(model, field) -> whether the field takes numbers``, filled on first use.
_NUMERIC_FIELDS: dict[tuple[type[BaseModel], str], bool] = {}


def refuse_bool_numbers(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A ``field_validator("*", mode="before")`` body: a boolean given to a numeric field is an error.

    Pydantic's lax mode reads ``true`` as ``1``; ``proxy.epochs: true`` is a mistake, not one epoch. This runs
    for every field of every validation (stored specs are re-validated on each read), so anything that cannot
    hold a boolean returns at once and whether a field takes numbers is looked up once per field.
    """
    kind = type(value)
    if kind is not bool and kind is not list and kind is not dict and kind is not tuple:
        return value
    key = (model, info.field_name or "")
    numeric = _NUMERIC_FIELDS.get(key)
    if numeric is None:
        field = model.model_fields.get(key[1])
        numeric = _NUMERIC_FIELDS[key] = field is not None and numeric_annotation(field.annotation)
    if numeric and holds_bool(value):
        if isinstance(value, dict):  # name the entry (``resources.gpu``), not only the field
            entry = next((k for k, v in value.items() if holds_bool(v)), None)
            if entry is not None:
                raise ValueError(f"{info.field_name}.{entry}: expected a number, got a boolean")
        raise ValueError("expected a number, got a boolean")
    return value


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
    # NaN and Infinity are refused in every field (specs and worker reports): they cannot be stored as JSON.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_numbers(cls, value, info)


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

    ``test_fraction`` is held out of every search (a fixed, job-independent split; only a ``final`` job
    evaluates on it); ``val_fraction`` of the rest is the validation split a search selects on;
    ``data_fraction`` trains on a deterministic class-stratified subset of the training split (a cheaper
    proxy; see ``nas proxy study``).
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
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    data_fraction: float = Field(1.0, gt=0, le=1)
    max_train_samples: int | None = Field(None, ge=1, le=10_000_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    threads: int = Field(1, ge=1, le=256)


class LatencyConfig(_Model):
    """How latency is measured: on a named latency target (:mod:`nas_service.latency`), median of repeats.

    ``target`` names the target the reward uses (default the built-in ``local-cpu``: the trial's own worker,
    whose ``device``/``batch_size``/``warmup``/``repeats``/``threads`` are the fields below); ``extra_targets``
    are measured and reported too. ``resolved`` is filled in by the service when the job is queued: the
    settings of every named target as they were then (the job keeps measuring what it was queued with).
    ``mode`` and ``reject_factor`` choose measuring, predicting, or predicting first and rejecting a candidate
    predicted over ``reject_factor`` times the reward's target latency before training.
    """

    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(1, ge=1, le=1024)
    warmup: int = Field(10, ge=0, le=10_000)
    repeats: int = Field(30, ge=1, le=100_000)
    threads: int = Field(1, ge=1, le=256)
    target: str = Field("local-cpu", min_length=1, max_length=63)
    extra_targets: list[str] = Field(default_factory=list, max_length=8)
    mode: Literal["measure", "predict", "predict-then-measure"] = "measure"
    reject_factor: float = Field(2.0, gt=1, le=100)
    resolved: dict[str, LatencyTarget] = Field(default_factory=dict, max_length=9)


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

    name: Literal["random", "grid", "tpe", "nsga2", "evolution", "mnas-rl", "compound-scaling", "surrogate"] = "random"
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


#: What one NetAdapt reduction shrinks in a stage (:func:`nas_service.strategies.netadapt.reduce_stage`).
ReductionKind = Literal["expansion", "width", "kernel", "repeats"]
REDUCTION_KINDS: tuple[ReductionKind, ...] = ("expansion", "width", "kernel", "repeats")


class NetAdaptConfig(_Model):
    """NetAdapt (MobileNetV3's complementary method): shrink a trained network step by step to a latency budget.

    Step 0 trains ``base`` on the proxy (a preset name or block strings: ``proxy.epochs`` from scratch; a
    trial id: its stored weights fine-tuned for ``finetune_epochs``, measured on this job's latency target).
    Every later step proposes, per stage and per reduction kind, the smallest reduction that is estimated to
    lower latency by the step's target, fine-tunes each proposal from its parent's weights for
    ``finetune_epochs``, and keeps the one with the best accuracy change per millisecond saved, until the
    measured latency meets the budget. Give ``budget_ms`` or ``budget_fraction`` (of the base's measured
    latency), not both. ``patience``: steps in a row without a proposal measured faster before the job gives up
    (raise it on a noisy target).
    """

    base: str | list[list[str]] | Architecture = Field(..., description="a preset name, a trial id or block strings")
    budget_ms: float | None = Field(None, gt=0, le=1e6)
    budget_fraction: float | None = Field(None, gt=0, lt=1)
    reduction_fraction: float = Field(0.1, gt=0, lt=1)
    decay: float = Field(0.96, gt=0, le=1)
    max_notches: int = Field(4, ge=1, le=16)
    max_steps: int = Field(20, ge=1, le=200)
    finetune_epochs: int = Field(1, ge=1, le=100)
    patience: int = Field(3, ge=1, le=50)
    kinds: list[ReductionKind] = Field(default_factory=lambda: list(REDUCTION_KINDS), min_length=1, max_length=4)

    @model_validator(mode="after")
    def _one_budget(self) -> NetAdaptConfig:
        if (self.budget_ms is None) == (self.budget_fraction is None):
            raise ValueError("netadapt: give exactly one of 'budget_ms' and 'budget_fraction'")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("netadapt.kinds: each reduction kind at most once")
        return self


#: How stage two picks a job's networks: best reward, the Pareto front, or the networks a netadapt job kept.
FinalizeBy = Literal["reward", "pareto", "netadapt"]


class FinalConfig(_Model):
    """Stage two: train the best networks of a search job to convergence with the final recipe.

    Built by ``POST /jobs/{id}/finalize`` (``nas job finalize``), which picks ``trial_ids`` from the source job
    and copies its proxy task with the full training split and ``epochs``. The recipe adds augmentation
    (``auto``: random crop with padding, plus horizontal flips except for digits, where a mirror changes the
    class), optional EMA of the weights, and the evaluation on the held-out test split the search never saw.
    Networks picked ``by: netadapt`` start from the weights the netadapt job kept (NetAdapt's long fine-tune);
    the others train from scratch.

    ``recipe: proxy`` retrains the networks under the job's ``proxy`` instead (its resolution, data fraction and
    epochs; validation accuracy, no augmentation, from scratch): a candidate proxy of a proxy study
    (:mod:`nas_service.proxy_study`), whose accuracies are then ranked against the source job's.
    """

    source_job_id: int = Field(..., ge=1)
    trial_ids: list[int] = Field(..., min_length=1, max_length=256)
    by: FinalizeBy = "reward"
    epochs: int = Field(30, ge=1, le=1000)
    augment: Literal["auto", "none", "crop", "crop-flip"] = "auto"
    ema_decay: float | None = Field(None, gt=0, lt=1)
    recipe: Literal["final", "proxy"] = "final"
    #: ``recipe: proxy`` only: train every network at this resolution (a candidate proxy that changes the
    #: resolution); ``None`` keeps each network's own.
    resolution: int | None = Field(None, ge=8, le=1024)


class JobSpec(_Model):
    """Everything a job asks for; stored with the job and handed to the dispatcher and workers.

    ``task: detection`` trains detectors on the detection proxy (``detection``; mAP is the reward's accuracy):
    a search explores ``detection.space``, a scaling job trains ``detection.scaling``'s family. ``proxy`` and
    ``scaling`` are then unused.
    """

    name: str = Field("search", min_length=1, max_length=200)
    kind: Literal["search", "scaling", "final", "netadapt"] = "search"
    task: Literal["classification", "detection"] = "classification"
    detection: DetectionJobConfig | None = None
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    constraints: ConstraintsConfig = Field(default_factory=ConstraintsConfig)
    scaling: ScalingConfig | None = None
    final: FinalConfig | None = None
    netadapt: NetAdaptConfig | None = None
    resources: dict[str, float] = Field(
        default_factory=lambda: {"cpu": 1.0, "gpu": 0.0},
        max_length=8,
        description=(
            "What one trial needs of a worker: `cpu`, `gpu`, `memory` (bytes) and custom cluster resources named "
            "`kind:name` (e.g. `latency:pixel7`); finite, not negative, at most the server's caps."
        ),
    )

    @field_validator("resources", mode="after")
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
        if self.task == "detection":
            if self.detection is None:
                object.__setattr__(self, "detection", DetectionJobConfig())
            assert self.detection is not None
            if self.kind == "netadapt" or self.netadapt is not None:
                raise ValueError("kind: netadapt shrinks classifiers; it does not run with 'task: detection'")
            if self.latency.mode != "measure":
                raise ValueError("latency.mode: a detection job measures ('measure'); predictors model classifiers")
            if self.strategy.name == "compound-scaling":
                raise ValueError(
                    "strategy.name: detection compound scaling is 'kind: scaling' with 'detection.scaling' settings"
                )
            if self.kind == "scaling" and self.detection.scaling is None:
                raise ValueError("detection.scaling: a detection scaling job needs 'detection.scaling' settings")
            return self
        if self.detection is not None:
            raise ValueError("detection: set 'task: detection' to use detection settings")
        if self.kind == "netadapt":
            if self.netadapt is None:
                raise ValueError("netadapt: a netadapt job needs 'netadapt' settings (base and a latency budget)")
            if self.strategy.multi_fidelity != "none":
                raise ValueError("strategy.multi_fidelity: a netadapt job fine-tunes every proposal fully ('none')")
            if self.latency.mode == "predict":
                raise ValueError("latency.mode: a netadapt job times every proposal beside its parent; use 'measure'")
        elif self.netadapt is not None:
            raise ValueError("netadapt: set 'kind: netadapt' to use netadapt settings")
        if self.kind == "scaling" and self.scaling is None:
            raise ValueError("a scaling job needs 'scaling' settings")
        if self.kind == "final" and self.final is None:
            raise ValueError("a final job needs 'final' settings (create it with POST /jobs/{id}/finalize)")
        return self

    @model_validator(mode="after")
    def _settings_fit_strategy(self) -> JobSpec:
        check_strategy_settings(self)
        return self


def strategy_name(spec: JobSpec) -> str:
    """The strategy a job runs: ``compound-scaling`` for a scaling job and ``netadapt`` for a netadapt job,
    whatever ``strategy.name`` says; ``strategy.name`` otherwise."""
    return {"scaling": "compound-scaling", "netadapt": "netadapt"}.get(spec.kind, spec.strategy.name)


def check_strategy_settings(spec: JobSpec) -> None:
    """Check ``spec.strategy.settings`` against the settings model of the strategy the job runs.

    A scaling job runs ``compound-scaling`` and a netadapt job ``netadapt`` whatever ``strategy.name`` says.
    Errors name the key under ``strategy.settings`` (``strategy.settings.populaton: Extra inputs are not
    permitted``), so the API's 422 and the SDK's and CLI's local validation say the same.

    Raises:
        pydantic.ValidationError: An unknown key, a wrong type, a non-finite number or a value out of range.
    """
    from pydantic import ValidationError

    # Imported here: the strategies import this module.
    from nas_service.strategies.registry import validate_settings

    name = strategy_name(spec)
    try:
        validate_settings(name, spec.strategy.settings)
    except ValidationError as exc:
        errors = [
            {
                **{k: v for k, v in e.items() if k in ("type", "input", "ctx")},
                "loc": ("strategy", "settings", *e["loc"]),
            }
            for e in exc.errors()
        ]
        raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]


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
    target: str | None = Field(None, max_length=63)
    runtime: str | None = Field(None, max_length=64)
    node: str | None = Field(None, max_length=200)
    cv: float | None = Field(None, ge=0)
    stable: bool | None = None
    extra_ms: dict[str, float] = Field(default_factory=dict, max_length=8)
    #: A reference network (a NetAdapt proposal's parent) timed run by run alternately with this one: this
    #: median divided by the median of the run-by-run ratios, so ``median_ms / reference_ms`` is that paired
    #: ratio, which holds where separate measurements drift (:func:`nas_service.latency.runners.measure_paired`).
    reference_ms: float | None = Field(None, gt=0)
    #: The job target's predicted latency of this network, made before it was trained (``latency.mode``
    #: ``predict`` or ``predict-then-measure``; :mod:`nas_service.latency.gate`): beside a measured median it
    #: shows how far the predictor was off; with ``runtime: predicted`` it is the median.
    predicted_ms: float | None = Field(None, gt=0)


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

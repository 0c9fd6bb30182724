"""The dispatcher's detection branch: strategy, network as trained, cost, payload and latency cache of detectors.

A job with ``task: detection`` (:class:`~nas_service.detection.job.DetectionJobConfig`) runs through the same
loop as a classification job; only these steps differ, each called from one place:

* opening (:func:`open_detection`): a search asks the job's strategy over its
  :class:`~nas_service.detection.space.DetectionSearchSpace`; a scaling job walks the compound-scaled family
  (:class:`~nas_service.detection.job.DetectionScalingSpace`) with the ``grid`` strategy, in ``phi`` order;
* the network as trained (:func:`detection_as_trained`): the proxy's resolution (searches; a scaling family
  keeps each member's proxy resolution) and the synthetic data's classes;
* cost (:func:`detection_cost`): analytic params and MACs
  (:func:`~nas_service.arch.detection_profile.profile_detection`);
* the payload (:func:`detection_payload`): a :class:`DetectionTrialPayload` for the ``detection`` runner, with a
  latency from the cross-job cache when this detector was measured before on this kind of worker
  (:func:`detection_cached_latency`; the key is the detector's hash, input shape, device and runtime).

The worker reports mAP@[.5:.95] as ``accuracy``, so storage computes the MnasNet reward with mAP in its place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture
from nas_service.detection.config import DetectionProxyConfig
from nas_service.jobspec import JobSpec, LatencyConfig, LatencyMeasurement, RewardConfig, StrategyConfig
from nas_service.orchestration.latency_cache import cached_by_key, latency_cache_key
from nas_service.storage.base import BaseStorage

if TYPE_CHECKING:
    from nas_service.orchestration.jobrun import JobRun
    from nas_service.orchestration.placement import Cost
    from nas_service.strategies.base import BaseStrategy

__all__ = [
    "DETECTION_RUNNER",
    "DetectionTrialPayload",
    "detection_as_trained",
    "detection_cached_latency",
    "detection_cost",
    "detection_payload",
    "detection_scaling_report",
    "is_detection",
    "open_detection",
    "stored_architecture",
]

#: The executor runner that trains a :class:`DetectionTrialPayload`
#: (:func:`workers.detection_trial.run_detection_trial`).
DETECTION_RUNNER = "detection"


class DetectionTrialPayload(BaseModel):
    """Everything a worker needs to run one detection trial attempt (JSON-serialisable).

    Attributes:
        trial_id: The controller's trial id.
        job_id: The job the trial belongs to.
        attempt: Attempt number (1-based).
        architecture: The detector; its resolution and classes are replaced by the proxy's.
        proxy: The detection proxy task.
        latency: How to measure latency.
        reward: The reward's target and exponents.
        cached_latency: A latency already measured for this detector on this kind of device (skips measuring).
    """

    model_config = ConfigDict(extra="forbid")

    trial_id: int | str
    job_id: int | str
    attempt: int = Field(1, ge=1)
    architecture: DetectionArchitecture
    proxy: DetectionProxyConfig = Field(default_factory=DetectionProxyConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    cached_latency: LatencyMeasurement | None = None


def is_detection(spec: JobSpec) -> bool:
    """Whether the job trains detectors."""
    return spec.task == "detection"


def _config(spec: JobSpec) -> Any:
    if spec.detection is None:  # JobSpec fills it for task=detection; a stored spec from elsewhere may not
        raise ValueError("detection: a detection job needs detection settings")
    return spec.detection


def open_detection(spec: JobSpec) -> tuple[BaseStrategy, bool]:
    """The strategy of a detection job and whether its candidates carry their own (trained) resolution.

    Raises:
        ValueError: Missing settings, or a strategy that refuses the space.
    """
    from nas_service.detection.job import DetectionScalingSpace
    from nas_service.strategies import make_strategy

    det = _config(spec)
    if spec.kind == "scaling":
        if det.scaling is None:
            raise ValueError("detection.scaling: a detection scaling job needs scaling settings")
        family = DetectionScalingSpace(det.scaling, det.proxy.resolution)
        config = StrategyConfig(name="grid", seed=spec.strategy.seed)
        return make_strategy(config, family, spec.reward), True  # type: ignore[arg-type]
    return make_strategy(spec.strategy, det.search_space(), spec.reward), False  # type: ignore[arg-type]


def detection_as_trained(arch: DetectionArchitecture, run: JobRun) -> DetectionArchitecture:
    """The detector a worker trains: the proxy resolution unless searched, the synthetic data's classes.

    Idempotent. COCO data's classes are only known to the worker, which replaces them.
    """
    proxy = _config(run.job.spec).proxy
    update: dict[str, int] = {}
    if not run.searches_resolution:
        update["resolution"] = proxy.resolution
    if proxy.dataset == "shapes":
        update["num_classes"] = proxy.num_classes
    return DetectionArchitecture.model_validate({**arch.model_dump(), **update}) if update else arch


def detection_cost(arch: DetectionArchitecture) -> Cost:
    """Analytic parameters and MACs of the detector at its resolution."""
    from nas_service.arch.detection_profile import profile_detection
    from nas_service.orchestration.placement import Cost

    prof = profile_detection(arch)
    return Cost(params=prof.params, macs=prof.macs)


def stored_architecture(data: dict[str, Any]) -> Architecture | DetectionArchitecture:
    """A trial's stored architecture document as its model (a detector has a ``backbone``)."""
    if "backbone" in data:
        return DetectionArchitecture.model_validate(data)
    return Architecture.model_validate(data)


def detection_cached_latency(
    storage: BaseStorage, arch: DetectionArchitecture, latency: LatencyConfig, device: str, runtime: str
) -> LatencyMeasurement | None:
    """A latency of the detector as trained measured earlier (any job) on ``device`` with ``runtime``, if cached."""
    key = latency_cache_key(arch.arch_hash(), (3, arch.resolution, arch.resolution), device, runtime, latency)
    return cached_by_key(storage, key)


def detection_payload(
    run: JobRun, trial_id: int, attempt: int, arch: DetectionArchitecture, cached: LatencyMeasurement | None
) -> DetectionTrialPayload:
    """The worker's payload for one attempt of a detection trial (the proxy at the detector's resolution)."""
    spec = run.job.spec
    proxy = _config(spec).proxy.model_copy(update={"resolution": arch.resolution})
    return DetectionTrialPayload(
        trial_id=trial_id,
        job_id=run.job.id,
        attempt=attempt,
        architecture=arch,
        proxy=proxy,
        latency=spec.latency,
        reward=spec.reward,
        cached_latency=cached,
    )


def detection_scaling_report(spec: JobSpec, trials: list[Any]) -> dict[str, Any]:
    """A detection scaling job's table: one row per ``phi`` of the family, measured where trained.

    Each row has the full-size network (``name``, ``backbone``, ``fpn_channels``, ``fpn_repeats``,
    ``head_repeats``, ``resolution``, analytic ``params`` and ``macs``), what the proxy trains
    (``trained_resolution``, ``trained_params``) and the latest trial of that ``phi`` (``accuracy`` is mAP@[.5:.95],
    ``latency_ms``, ``reward``, ``state``: ``planned`` until a trial exists).

    Args:
        spec: The job's spec (``task: detection``, ``kind: scaling``).
        trials: The job's trials (:class:`~nas_service.storage.domain.TrialRecord`), in number order.

    Returns:
        ``{"chosen": None, "note", "grid": [], "family": [rows]}`` (detection scaling has no coefficient grid:
        the paper's formulas or the D-table fix every dimension).
    """
    from nas_service.arch.detection_profile import profile_detection
    from nas_service.detection.job import DetectionScalingSpace

    det = _config(spec)
    if spec.kind != "scaling" or det.scaling is None:
        return {"chosen": None, "note": "not a scaling job", "grid": [], "family": []}
    family = DetectionScalingSpace(det.scaling, det.proxy.resolution)
    latest = {int(t.params["phi"]): t for t in trials if isinstance(t.params, dict) and "phi" in t.params}
    rows = []
    for phi in det.scaling.phis:
        net = det.scaling.network(phi)
        prof = profile_detection(net)
        trial = latest.get(phi)
        rows.append(
            {
                "phi": phi,
                "name": net.name,
                "backbone": net.backbone.name,
                "fpn_channels": net.fpn_channels,
                "fpn_repeats": net.fpn_repeats,
                "head_repeats": net.head_repeats,
                "resolution": net.resolution,
                "params": prof.params,
                "macs": prof.macs,
                "trained_resolution": family.decode({"phi": phi}).resolution,
                "trained_params": trial.params_count if trial else None,
                "accuracy": trial.accuracy if trial else None,
                "latency_ms": trial.latency_ms if trial else None,
                "reward": trial.reward if trial else None,
                "state": trial.state.value if trial else "planned",
                "trial_id": trial.id if trial else None,
            }
        )
    note = f"EfficientDet compound scaling ({det.scaling.rule} rule); accuracy is mAP@[.5:.95] on the proxy"
    return {"chosen": None, "note": note, "grid": [], "family": rows}

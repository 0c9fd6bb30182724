"""Targets and predictors as the service sees them: the built-in default plus the stored targets.

The API, the CLI and the workers go through these functions, so the rules live once: ``local-cpu`` always
exists and cannot be created, changed or deleted; a predictor whose target settings changed since it was
fitted is discarded (it predicts another runtime); a predict request is capped (:data:`PREDICT_MAX_MACS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from nas_service.arch.spec import Architecture
from nas_service.latency.lut import NetworkParts, network_parts
from nas_service.latency.predictor import LatencyPredictor, Prediction
from nas_service.latency.targets import DEFAULT_TARGET, DEFAULT_TARGET_NAME, LatencyTarget, target_settings

if TYPE_CHECKING:
    from nas_service.jobspec import LatencyConfig
    from nas_service.storage import BaseStorage


__all__ = [
    "PREDICT_MAX_MACS",
    "BuiltinTargetError",
    "PredictCapError",
    "TargetFieldError",
    "resolve_job_latency",
    "job_latency_resources",
    "no_node_message",
    "as_architecture",
    "check_caps",
    "TargetView",
    "create_target",
    "delete_target",
    "get_target",
    "list_targets",
    "load_predictor",
    "predict_latency",
    "save_predictor",
    "update_target",
]

#: A predict request for a network above this many MACs (one image) is refused: no deployment target runs it.
PREDICT_MAX_MACS = 50 * 10**9


class BuiltinTargetError(ValueError):
    """The built-in target was asked to be created, changed or deleted."""


class PredictCapError(ValueError):
    """A predict request over the caps; ``field`` names what is over."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TargetFieldError(ValueError):
    """A job's latency settings name something wrong; ``field`` is the dotted path (``latency.target``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field




def resolve_job_latency(storage: BaseStorage, cfg: LatencyConfig) -> dict[str, LatencyTarget]:
    """The settings of every target a job names (``target`` first, then ``extra_targets``), by name.

    ``local-cpu`` is left out: the job's own latency fields describe it (today's zero-config behaviour).

    Raises:
        TargetFieldError: An unknown target (``latency.target`` or ``latency.extra_targets.N``).
    """
    from nas_service.storage import NotFoundError

    resolved: dict[str, LatencyTarget] = {}
    for field, name in [("latency.target", cfg.target)] + [
        (f"latency.extra_targets.{i}", n) for i, n in enumerate(cfg.extra_targets)
    ]:
        if name == DEFAULT_TARGET_NAME:
            continue
        try:
            resolved[name] = storage.get_latency_target(name).target
        except NotFoundError:
            known = ", ".join(v.target.name for v in list_targets(storage))
            raise TargetFieldError(field, f"unknown latency target {name!r}; known targets: {known}") from None
    return resolved


def job_latency_resources(cfg: LatencyConfig) -> dict[str, str]:
    """The Ray resources a job's measurements are placed by: resource -> the target that needs it (the reward's
    target and the extra ones, as resolved when the job was queued; ``local-cpu`` needs none)."""
    needs: dict[str, str] = {}
    for name in [cfg.target, *cfg.extra_targets]:
        target = cfg.resolved.get(name)
        if target is not None and target.resource is not None:
            needs.setdefault(target.resource, target.name)
    return needs


def no_node_message(resource: str, target: str | None = None, waited_s: float | None = None) -> str:
    """Why a measurement cannot be placed: no node advertises ``resource`` (the one wording of the worker's error,
    the dispatcher's note on a blocked job and its failure)."""
    of = f" of target {target!r}" if target else ""
    waited = f" (waited {waited_s:g} s)" if waited_s is not None else ""
    return (
        f"no node in the Ray cluster advertises the latency resource {resource!r}{of}{waited}; "
        f"start one with ray start --resources '{{\"{resource}\": 1}}'"
    )


@dataclass(frozen=True)
class TargetView:
    """A target with where it comes from."""

    target: LatencyTarget
    builtin: bool
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def list_targets(storage: BaseStorage) -> list[TargetView]:
    """The built-in target first, then the stored ones by name."""
    stored = [TargetView(r.target, False, r.owner, r.created_at, r.updated_at) for r in storage.list_latency_targets()]
    return [TargetView(DEFAULT_TARGET, True), *stored]


def get_target(storage: BaseStorage, name: str) -> TargetView:
    """One target by name (:class:`~nas_service.storage.NotFoundError` when unknown)."""
    if name == DEFAULT_TARGET_NAME:
        return TargetView(DEFAULT_TARGET, True)
    r = storage.get_latency_target(name)
    return TargetView(r.target, False, r.owner, r.created_at, r.updated_at)


def _refuse_builtin(name: str, what: str) -> None:
    if name == DEFAULT_TARGET_NAME:
        raise BuiltinTargetError(f"{DEFAULT_TARGET_NAME!r} is the built-in target and cannot be {what}")


def create_target(storage: BaseStorage, owner: str, target: LatencyTarget) -> TargetView:
    """Store a new target (not named ``local-cpu``)."""
    _refuse_builtin(target.name, "created")
    r = storage.create_latency_target(owner, target)
    return TargetView(r.target, False, r.owner, r.created_at, r.updated_at)


def update_target(storage: BaseStorage, target: LatencyTarget) -> TargetView:
    """Replace a stored target's settings; its predictor is discarded when the measured quantity changed."""
    _refuse_builtin(target.name, "changed")
    before = storage.get_latency_target(target.name).target
    r = storage.update_latency_target(target)
    if target_settings(before) != target_settings(target) and storage.get_latency_predictor(target.name):
        storage.save_latency_predictor(target.name, LatencyPredictor(target.name, target_settings(target)).to_dict())
    return TargetView(r.target, False, r.owner, r.created_at, r.updated_at)


def delete_target(storage: BaseStorage, name: str) -> None:
    """Delete a stored target and its predictor."""
    _refuse_builtin(name, "deleted")
    storage.delete_latency_target(name)


def load_predictor(storage: BaseStorage, target: LatencyTarget) -> LatencyPredictor:
    """The target's stored predictor, or an empty one (none yet, or fitted with other target settings)."""
    body = storage.get_latency_predictor(target.name)
    if body:
        predictor = LatencyPredictor.from_dict(body)
        if predictor.settings in ({}, target_settings(target)):
            return predictor
    return LatencyPredictor(target.name, target_settings(target))


def save_predictor(storage: BaseStorage, predictor: LatencyPredictor) -> int:
    """Store a predictor under its target's name; returns the stored version."""
    return storage.save_latency_predictor(predictor.target, predictor.to_dict())


def as_architecture(value: str | list[list[str]] | Architecture) -> Architecture:
    """A preset name, block strings or an Architecture as an Architecture.

    Raises:
        PredictCapError: With ``field="architecture"`` for an unknown preset or bad block strings.
    """
    if isinstance(value, Architecture):
        return value
    try:
        if isinstance(value, str):
            from nas_service.arch.presets import get_preset

            return get_preset(value)
        return Architecture.from_block_strings(value)
    except (KeyError, ValueError) as exc:
        raise PredictCapError("architecture", f"not a preset name or valid block strings: {exc}") from None


def check_caps(arch: Architecture, resolution: int | None = None) -> NetworkParts:
    """The network's parts, or :class:`PredictCapError` when it is over the caps."""
    try:
        parts = network_parts(arch, resolution)
    except ValueError as exc:  # channel splits or sizes the builder cannot build
        raise PredictCapError("architecture", f"the network cannot be built: {exc}") from None
    if parts.macs > PREDICT_MAX_MACS:
        raise PredictCapError(
            "architecture", f"the network needs {parts.macs:,} MACs per image, over the cap of {PREDICT_MAX_MACS:,}"
        )
    return parts


def predict_latency(predictor: LatencyPredictor, arch: Architecture, resolution: int | None = None) -> Prediction:
    """Predict ``arch`` with a predictor that cannot measure (parts missing from its table are estimated).

    Raises:
        PredictCapError: The network is over the caps.
        LookupError: The predictor has no table yet (profile the target first).
    """
    parts = check_caps(arch, resolution)
    if not predictor.table:
        raise LookupError(
            f"target {predictor.target!r} has no latency predictor yet: run `nas latency profile {predictor.target}`"
        )
    return predictor.predict_parts(parts)

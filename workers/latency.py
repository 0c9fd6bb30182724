"""On-device latency of a candidate in the trial path: the ``LAT`` of the MnasNet reward.

A thin shell over :mod:`nas_service.latency`: a job's :class:`~nas_service.jobspec.LatencyConfig` becomes a
torch-eager :class:`~nas_service.latency.targets.LatencyTarget` (:func:`target_of`), measured by
:func:`nas_service.latency.runners.measure_module`: inside the node's exclusive measurement slot, raised back
to normal priority from Ray's nice 15, re-measured while the round's CV is over the policy's threshold
(flagged unstable if it stays over). The median is the headline number; p90, mean and std are kept.

:func:`latency_cache_key` names a measurement for the controller's cross-job cache: the controller's
:func:`nas_service.orchestration.latency_cache.latency_cache_key` (itself the target-aware
:func:`nas_service.latency.latency_cache_key`) with this worker's runtime version.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch.nn as nn

from nas_service.jobspec import LatencyConfig, LatencyMeasurement
from nas_service.latency import DEFAULT_TARGET_NAME, LatencyTarget, MeasurementPolicy
from nas_service.latency.gate import PREDICTED_RUNTIME
from nas_service.latency.registry import no_node_message
from nas_service.latency.runners import (
    NetworkMeasurement,
    cpu_model_name,
    describe_device,
    measure_module,
    measure_paired,
    runtime_version,
)
from nas_service.orchestration.latency_cache import latency_cache_key as _cache_key
from nas_service.orchestration.latency_cache import runtime_key as _runtime_key
from workers.train import resolve_device

__all__ = [
    "NoLatencyNodeError",
    "cache_applies",
    "cpu_model_name",
    "describe_device",
    "latency_cache_key",
    "measure_latency",
    "measure_for_trial",
    "measure_latency_detailed",
    "primary_target",
    "runtime_key",
    "target_of",
    "to_latency_measurement",
]


def primary_target(cfg: LatencyConfig) -> LatencyTarget:
    """The target the reward uses: the job's named target as resolved when it was queued, else ``local-cpu``
    described by the job's own latency fields (:func:`target_of`)."""
    return cfg.resolved.get(cfg.target) or target_of(cfg)


def target_of(cfg: LatencyConfig) -> LatencyTarget:
    """The torch-eager target a job's latency settings describe (``auto`` resolved on this node)."""
    device = resolve_device(cfg.device).type
    return LatencyTarget(
        name="job",
        runtime="torch",
        device="cuda" if device == "cuda" else "cpu",
        threads=cfg.threads,
        batch_size=cfg.batch_size,
        warmup=cfg.warmup,
        repeats=cfg.repeats,
    )


def runtime_key(device_name: str, cfg: LatencyConfig | None = None) -> str:
    """This worker's :func:`nas_service.orchestration.latency_cache.runtime_key` for the job's target runtime."""
    runtime = primary_target(cfg).runtime if cfg is not None else "torch"
    return _runtime_key(device_name, runtime_version(runtime))


def latency_cache_key(arch_hash: str, input_shape: Sequence[int], device_name: str, cfg: LatencyConfig) -> str:
    """:func:`nas_service.orchestration.latency_cache.latency_cache_key` with this worker's :func:`runtime_key`."""
    return _cache_key(arch_hash, input_shape, device_name, runtime_key(device_name, cfg), cfg)


def to_latency_measurement(m: NetworkMeasurement, node: str | None = None) -> LatencyMeasurement:
    """The trial result's form of a measurement (``node``: where it was measured)."""
    return LatencyMeasurement(
        target=m.target,
        runtime=m.runtime_version,
        node=node,
        cv=m.cv,
        stable=m.stable,
        device=m.device[:200],
        device_kind="cuda" if m.device.startswith("cuda:") else "cpu",
        batch_size=m.batch_size,
        threads=m.threads,
        median_ms=m.median_ms,
        p90_ms=m.p90_ms,
        mean_ms=m.mean_ms,
        std_ms=m.std_ms,
        samples=len(m.samples_ms),
        samples_ms=list(m.samples_ms),
    )


def measure_latency_detailed(
    model: nn.Module, input_shape: Sequence[int], cfg: LatencyConfig, policy: MeasurementPolicy | None = None
) -> NetworkMeasurement:
    """Measure ``model`` as ``cfg`` asks, with the CV, stability flag and rounds of the measurement."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    return measure_module(model, input_shape, target_of(cfg), policy)


def measure_latency(model: nn.Module, input_shape: Sequence[int], cfg: LatencyConfig) -> LatencyMeasurement:
    """Measure the forward latency of ``model`` (see the module docstring); the model is not modified.

    Args:
        model: The network.
        input_shape: Per-sample input shape ``(C, H, W)``; the batch size comes from ``cfg``.
        cfg: Device, batch size, warm-up and repeat counts, threads.

    Returns:
        The measurement with its per-run samples (of the kept round).
    """
    return to_latency_measurement(measure_latency_detailed(model, input_shape, cfg))


def _measure_arch(arch_json: str, input_shape: list[int], target_json: str) -> dict[str, object]:
    """Build a network from its JSON and measure it on a target, here (the body of the remote latency task)."""
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.arch.spec import Architecture
    from workers.trial import worker_identity

    torch.manual_seed(0)
    model = build_model(Architecture.model_validate_json(arch_json))
    target = LatencyTarget.model_validate_json(target_json)
    m = measure_module(model, input_shape, target)
    return to_latency_measurement(m, worker_identity()[0]).model_dump(mode="json")


class NoLatencyNodeError(RuntimeError):
    """No node of the cluster advertises the target's Ray resource (the trial fails with this reason)."""


def _wait_for_resource(resource: str, wait_s: float) -> None:
    import ray

    deadline = time.monotonic() + wait_s
    while ray.cluster_resources().get(resource, 0) < 1:
        if time.monotonic() >= deadline:
            raise NoLatencyNodeError(no_node_message(resource, waited_s=wait_s))
        time.sleep(1.0)


def _measure_remote(arch_json: str, input_shape: Sequence[int], target: LatencyTarget) -> LatencyMeasurement:
    """Measure on a node of ``target.resource``: a Ray task of its own, apart from the training task.

    Raises:
        NoLatencyNodeError: No node advertises the resource within ``NAS_LATENCY_NODE_WAIT_S`` (default 300 s).
    """
    import ray

    from nas_service.settings import get_settings

    assert target.resource is not None
    # The dispatcher does not start a job's trials while no node has the resource; a node that left since waits here.
    _wait_for_resource(target.resource, get_settings().latency_node_wait_s)
    task = ray.remote(_measure_arch).options(
        num_cpus=0, resources={target.resource: 1}, name=f"latency:{target.name}", max_retries=1
    )
    return LatencyMeasurement.model_validate(
        ray.get(task.remote(arch_json, list(input_shape), target.model_dump_json()))
    )


def cache_applies(cached: LatencyMeasurement, cfg: LatencyConfig) -> bool:
    """Whether a cached latency (looked up by the dispatcher) stands for a measurement this trial would make."""
    if cached.runtime == PREDICTED_RUNTIME:
        return cfg.mode == "predict"  # predicted, not measured: it stands in only where the job asked for that
    target = primary_target(cfg)
    if target.resource is not None:
        return True  # measured on a node of the target: the cache key named its device already
    return cached.device == describe_device(resolve_device(cfg.device))


def measure_for_trial(
    model: nn.Module,
    arch_json: str,
    input_shape: Sequence[int],
    cfg: LatencyConfig,
    node: str | None = None,
    reference: nn.Module | None = None,
) -> LatencyMeasurement:
    """Measure a trial's network on the job's target (and its extra targets), where each target measures.

    A target with a Ray resource is measured by a latency task placed on a node advertising it; one without
    (``local-cpu`` included) here, in this node's exclusive measurement slot.

    Args:
        model: The network as built for training (measured here only for a target without a resource).
        arch_json: The network as measured (``Architecture`` JSON), for a remote task to build.
        input_shape: Per-sample input shape ``(C, H, W)``.
        cfg: The job's latency settings (targets resolved when the job was queued).
        node: This node's identity, recorded with a local measurement.
        reference: A network to time alternately with ``model`` on the primary target, run by run
            (:func:`~nas_service.latency.runners.measure_paired`; a NetAdapt proposal's parent): its median is
            ``reference_ms``. Only where the primary target measures here (a remote target gives none).

    Returns:
        The primary target's measurement, with the extra targets' medians in ``extra_ms``.
    """

    def one(target: LatencyTarget) -> LatencyMeasurement:
        if target.resource is not None:
            return _measure_remote(arch_json, input_shape, target)
        return to_latency_measurement(measure_module(model, input_shape, target), node)

    primary = primary_target(cfg)
    if reference is not None and primary.resource is None:
        measured, reference_ms = measure_paired(model, reference, input_shape, primary)
        result = to_latency_measurement(measured, node).model_copy(update={"reference_ms": reference_ms})
    else:
        result = one(primary)
    extra = {}
    for name in cfg.extra_targets:
        target = cfg.resolved.get(name) or (target_of(cfg) if name == DEFAULT_TARGET_NAME else None)
        if target is not None:
            extra[name] = one(target).median_ms
    if extra:
        result = result.model_copy(update={"extra_ms": extra})
    return result

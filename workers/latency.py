"""On-device latency of a candidate in the trial path: the ``LAT`` of the MnasNet reward.

A thin shell over :mod:`nas_service.latency`: a job's :class:`~nas_service.jobspec.LatencyConfig` becomes a
torch-eager :class:`~nas_service.latency.targets.LatencyTarget` (:func:`target_of`), measured by
:func:`nas_service.latency.runners.measure_module`: inside the node's exclusive measurement slot, raised back
to normal priority from Ray's nice 15, re-measured while the round's CV is over the policy's threshold
(flagged unstable if it stays over). The median is the headline number; p90, mean and std are kept.

:func:`latency_cache_key` names a measurement for the controller's cross-job cache; it is the target-aware
:func:`nas_service.latency.latency_cache_key` (network, input shape, target settings, device, runtime version).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from nas_service.jobspec import LatencyConfig, LatencyMeasurement
from nas_service.latency import LatencyTarget, MeasurementPolicy
from nas_service.latency import latency_cache_key as target_cache_key
from nas_service.latency.measure import PROTOCOL_VERSION
from nas_service.latency.runners import (
    NetworkMeasurement,
    cpu_model_name,
    describe_device,
    measure_module,
    runtime_version,
)
from workers.train import resolve_device

__all__ = [
    "cpu_model_name",
    "describe_device",
    "latency_cache_key",
    "measure_latency",
    "measure_latency_detailed",
    "runtime_key",
    "target_of",
    "to_latency_measurement",
]


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


def runtime_key(device_name: str) -> str:
    """What besides the network and the hardware changes a timing: runtime version, protocol, layout, dtype."""
    layout = "channels_last" if device_name.startswith("cuda:") else "contiguous"
    return f"{runtime_version('torch')}|protocol-{PROTOCOL_VERSION}|{layout}|fp32"


def latency_cache_key(arch_hash: str, input_shape: Sequence[int], device_name: str, cfg: LatencyConfig) -> str:
    """Key of a latency measurement in the controller's cross-job cache.

    Args:
        arch_hash: :meth:`Architecture.arch_hash` of the network *as measured* (proxy resolution and classes).
        input_shape: Per-sample input shape ``(C, H, W)``.
        device_name: :func:`describe_device` of the measuring device.
        cfg: The latency settings (batch size and threads are part of the key; warm-up and repeats are not).

    Returns:
        A hex digest (:func:`nas_service.latency.latency_cache_key`).
    """
    target = target_of(cfg).model_copy(update={"device": "cuda" if device_name.startswith("cuda:") else "cpu"})
    return target_cache_key(arch_hash, input_shape, target, device_name, runtime_version("torch"))


def to_latency_measurement(m: NetworkMeasurement) -> LatencyMeasurement:
    """The trial result's form of a measurement."""
    return LatencyMeasurement(
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

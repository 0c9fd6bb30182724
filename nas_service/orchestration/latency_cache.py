"""The cross-job latency cache: its key (the one definition) and the controller's lookup.

The same network (as measured: proxy resolution, the data's classes and channels), input shape, device,
runtime (torch version, timing protocol, memory layout, dtype), batch size and threads is measured once for
every job. Warm-up and repeat counts are left out on purpose: they change the precision of a measurement,
not the quantity measured. Workers compute the key when they measure (:mod:`workers.latency` passes its
torch version); the controller computes the same key to look a candidate up before it runs, with the runtime
the workers reported (:attr:`TrialRun.latency_runtime`), so it never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, LatencyMeasurement
from nas_service.storage.base import BaseStorage

if TYPE_CHECKING:
    from nas_service.latency.targets import LatencyTarget

__all__ = ["PROTOCOL_VERSION", "cached_by_key", "cached_latency", "job_target", "latency_cache_key", "runtime_key"]

#: Version of the timing protocol (:func:`workers.latency.measure_latency`); bump it when the protocol changes.
PROTOCOL_VERSION = 1


def runtime_key(device_name: str, runtime_version: str) -> str:
    """What besides the network, the hardware and the target changes a timing: runtime version, protocol, layout.

    Args:
        device_name: The measuring device (``cpu:<model>``, ``cuda:<GPU name>``).
        runtime_version: The runtime that timed it and its version (``torch-2.13.0``, ``onnxruntime-1.32.0``).
    """
    layout = "channels_last" if device_name.startswith("cuda:") else "contiguous"
    return f"{runtime_version}|protocol-{PROTOCOL_VERSION}|{layout}"


def job_target(cfg: LatencyConfig, device_name: str) -> LatencyTarget:
    """The target a job's latency settings measure on: its named target as resolved at queueing, else the job's own
    fields as a torch-eager target on the measuring device (``local-cpu``)."""
    from nas_service.latency.targets import LatencyTarget

    named = cfg.resolved.get(cfg.target)
    if named is not None:
        return named
    return LatencyTarget(
        name="job",
        runtime="torch",
        device="cuda" if device_name.startswith("cuda:") else "cpu",
        threads=cfg.threads,
        batch_size=cfg.batch_size,
        warmup=cfg.warmup,
        repeats=cfg.repeats,
    )


def latency_cache_key(
    arch_hash: str, input_shape: Sequence[int], device_name: str, runtime: str, cfg: LatencyConfig
) -> str:
    """Key of a job's latency measurement in the cross-job cache: the target-aware
    :func:`nas_service.latency.latency_cache_key` (the one definition) of the job's target (:func:`job_target`).

    Args:
        arch_hash: :meth:`Architecture.arch_hash` of the network *as measured* (proxy resolution and classes).
        input_shape: Per-sample input shape ``(C, H, W)``.
        device_name: The measuring device's stable description (``cpu:<model>``, ``cuda:<GPU name>``).
        runtime: :func:`runtime_key` of the measuring worker.
        cfg: The job's latency settings (the target's settings enter the key; warm-up and repeats do not).
    """
    from nas_service.latency import latency_cache_key as target_cache_key

    return target_cache_key(arch_hash, input_shape, job_target(cfg, device_name), device_name, runtime)


def cached_latency(
    storage: BaseStorage,
    arch: Architecture,
    resolution: int,
    latency: LatencyConfig,
    shape: tuple[int, int],
    device: str,
    runtime: str,
) -> LatencyMeasurement | None:
    """A latency of ``arch`` as the proxy builds it, measured earlier (any job) on ``device``, if cached.

    Args:
        storage: Where the cross-job cache lives.
        arch: The candidate (the dispatcher passes it as trained).
        resolution: The resolution trained (for the dispatcher ``arch.resolution``).
        latency: The latency settings (batch size, threads).
        shape: ``(classes, channels)`` of the proxy data.
        device: The device description the workers for these resources reported.
        runtime: The runtime key those workers reported.
    """
    classes, channels = shape
    measured = arch.model_copy(update={"num_classes": classes, "in_channels": channels, "resolution": resolution})
    key = latency_cache_key(measured.arch_hash(), (channels, resolution, resolution), device, runtime, latency)
    return cached_by_key(storage, key)


def cached_by_key(storage: BaseStorage, key: str) -> LatencyMeasurement | None:
    """The cached measurement stored under ``key`` (:func:`latency_cache_key`), or ``None``."""
    record = storage.get_cached_latency(key)
    if record is None:
        return None
    return LatencyMeasurement(
        device=record.device,
        device_kind="cuda" if record.device.startswith("cuda:") else "cpu",
        batch_size=record.batch_size,
        threads=record.threads,
        median_ms=record.median_ms,
        p90_ms=record.p90_ms,
        mean_ms=record.mean_ms,
        std_ms=record.std_ms,
        samples=record.samples,
        samples_ms=list(record.samples_ms),
    )

"""The cross-job latency cache: its key (the one definition) and the controller's lookup.

The same network (as measured: proxy resolution, the data's classes and channels), input shape, device,
runtime (torch version, timing protocol, memory layout, dtype), batch size and threads is measured once for
every job. Warm-up and repeat counts are left out on purpose: they change the precision of a measurement,
not the quantity measured. Workers compute the key when they measure (:mod:`workers.latency` passes its
torch version); the controller computes the same key to look a candidate up before it runs, with the runtime
the workers reported (:attr:`TrialRun.latency_runtime`), so it never imports torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, LatencyMeasurement
from nas_service.storage.base import BaseStorage

__all__ = ["PROTOCOL_VERSION", "cached_latency", "latency_cache_key", "runtime_key"]

#: Version of the timing protocol (:func:`workers.latency.measure_latency`); bump it when the protocol changes.
PROTOCOL_VERSION = 1


def runtime_key(device_name: str, torch_version: str) -> str:
    """What besides the network and the hardware changes a timing: torch version, protocol, layout, dtype."""
    layout = "channels_last" if device_name.startswith("cuda:") else "contiguous"
    return f"torch-{torch_version}|protocol-{PROTOCOL_VERSION}|{layout}|fp32"


def latency_cache_key(
    arch_hash: str, input_shape: Sequence[int], device_name: str, runtime: str, cfg: LatencyConfig
) -> str:
    """Key of a latency measurement in the cross-job cache (a sha256 hex digest).

    Args:
        arch_hash: :meth:`Architecture.arch_hash` of the network *as measured* (proxy resolution and classes).
        input_shape: Per-sample input shape ``(C, H, W)``.
        device_name: The measuring device's stable description (``cpu:<model>``, ``cuda:<GPU name>``).
        runtime: :func:`runtime_key` of the measuring worker.
        cfg: The latency settings (batch size and threads are part of the key).
    """
    shape = "x".join(str(int(s)) for s in input_shape)
    text = "|".join([arch_hash, shape, device_name, runtime, str(cfg.batch_size), str(cfg.threads)])
    return hashlib.sha256(text.encode()).hexdigest()


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

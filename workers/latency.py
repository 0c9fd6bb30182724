"""On-device latency of a candidate: the ``LAT`` of the MnasNet reward.

The protocol: eval mode, ``torch.inference_mode()``, a fixed input of ``(cfg.batch_size, C, H, W)``,
``warmup`` untimed runs, then ``repeats`` timed runs. On CPU each run is timed with ``time.perf_counter_ns``
under a fixed thread count (``torch.set_num_threads(cfg.threads)``, restored afterwards: thread count changes
latency more than anything else on a shared machine). On CUDA the runs are timed with CUDA events after a
synchronize, on a ``channels_last`` copy. The median is the headline number (robust to the odd preempted run);
p90, mean and std are kept so an unstable measurement can be spotted.

:func:`latency_cache_key` names a measurement for the controller's cross-job cache: the same network, input
shape, device model, batch and threads give the same latency whichever job asked.
"""

from __future__ import annotations

import copy
import functools
import platform
import statistics
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn

from nas_service.jobspec import LatencyConfig, LatencyMeasurement
from nas_service.orchestration.latency_cache import latency_cache_key as _cache_key
from nas_service.orchestration.latency_cache import runtime_key as _runtime_key
from workers.train import resolve_device

__all__ = ["cpu_model_name", "describe_device", "latency_cache_key", "measure_latency", "runtime_key"]

#: Bumped when the measurement protocol changes, so old cache entries stop matching.


@functools.lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def describe_device(device: torch.device | str) -> str:
    """A human-readable device name: ``cpu:<model>`` or ``cuda:<GPU name>``."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{cpu_model_name()}"


def runtime_key(device_name: str) -> str:
    """This worker's :func:`nas_service.orchestration.latency_cache.runtime_key` (its torch version)."""
    return _runtime_key(device_name, torch.__version__)


def latency_cache_key(arch_hash: str, input_shape: Sequence[int], device_name: str, cfg: LatencyConfig) -> str:
    """:func:`nas_service.orchestration.latency_cache.latency_cache_key` with this worker's :func:`runtime_key`."""
    return _cache_key(arch_hash, input_shape, device_name, runtime_key(device_name), cfg)


def measure_latency(model: nn.Module, input_shape: Sequence[int], cfg: LatencyConfig) -> LatencyMeasurement:
    """Measure the forward latency of ``model`` on ``cfg.device`` (see the module docstring for the protocol).

    Args:
        model: The network; it is not modified (a copy is measured when it lives on another device; its
            train/eval mode is restored).
        input_shape: Per-sample input shape ``(C, H, W)``; the batch size comes from ``cfg``.
        cfg: Device, batch size, warm-up and repeat counts, threads.

    Returns:
        The measurement with its per-run samples.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    device = resolve_device(cfg.device)
    param = next(model.parameters(), None)
    current = param.device if param is not None else torch.device("cpu")
    same_device = current.type == device.type
    net = model if same_device else copy.deepcopy(model).to(device)
    was_training = net.training
    net.eval()
    x = torch.randn(cfg.batch_size, *[int(s) for s in input_shape], generator=torch.Generator().manual_seed(0))
    previous_threads = torch.get_num_threads()
    try:
        if device.type == "cuda":
            samples = _time_cuda(net, x.to(device).contiguous(memory_format=torch.channels_last), cfg)
        else:
            torch.set_num_threads(cfg.threads)
            samples = _time_cpu(net, x, cfg)
    finally:
        torch.set_num_threads(previous_threads)
        net.train(was_training)
    return LatencyMeasurement(
        device=describe_device(device)[:200],
        device_kind="cuda" if device.type == "cuda" else "cpu",
        batch_size=cfg.batch_size,
        threads=cfg.threads,
        median_ms=max(statistics.median(samples), 1e-6),
        p90_ms=max(float(np.percentile(samples, 90)), 1e-6),
        mean_ms=max(statistics.fmean(samples), 1e-6),
        std_ms=statistics.pstdev(samples),
        samples=len(samples),
        samples_ms=samples,
    )


def _time_cpu(net: nn.Module, x: torch.Tensor, cfg: LatencyConfig) -> list[float]:
    samples: list[float] = []
    with torch.inference_mode():
        for _ in range(cfg.warmup):
            net(x)
        for _ in range(cfg.repeats):
            t0 = time.perf_counter_ns()
            net(x)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples


def _time_cuda(net: nn.Module, x: torch.Tensor, cfg: LatencyConfig) -> list[float]:
    if next(net.parameters(), None) is not None:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    with torch.inference_mode():
        for _ in range(cfg.warmup):
            net(x)
        torch.cuda.synchronize(x.device)
        pairs = []
        for _ in range(cfg.repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            net(x)
            end.record()
            pairs.append((start, end))
        torch.cuda.synchronize(x.device)
    return [float(s.elapsed_time(e)) for s, e in pairs]

"""Runtimes that time a network for a :class:`~nas_service.latency.targets.LatencyTarget`.

``torch``
    Eager PyTorch in eval mode under ``torch.inference_mode()``, ``torch.set_num_threads(target.threads)``
    (restored afterwards).
``torchscript``
    ``torch.jit.trace`` then ``torch.jit.freeze`` (BatchNorm folded, as a deployed TorchScript model is).
``onnxruntime``
    The model exported by :func:`nas_service.export.export_module` (the service's own ONNX export), run in an
    ``onnxruntime.InferenceSession`` on the CPU provider with ``intra_op_num_threads = target.threads``, one
    inter-op thread, sequential execution and thread spinning **off** (``session.intra_op.allow_spinning=0``):
    a spinning ORT pool keeps burning the cores after each run and slows whatever is timed next.

On CPU each run is timed with ``time.perf_counter_ns``; on CUDA with CUDA events after a synchronize. The
measurement policy (rounds, CV, re-measure) is :func:`nas_service.latency.measure.measure_until_stable`; the
whole measurement runs inside :func:`nas_service.latency.slot.measurement_slot`.

This module imports torch: only workers and the CLI import it, never the API.
"""

from __future__ import annotations

import copy
import functools
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas_service.latency.measure import (
    MeasurementPolicy,
    StableMeasurement,
    measure_until_stable,
    percentile,
    round_stats,
)
from nas_service.latency.slot import measurement_slot
from nas_service.latency.targets import LatencyTarget

__all__ = [
    "NetworkMeasurement",
    "cpu_model_name",
    "describe_device",
    "measure_module",
    "prepare_runner",
    "runtime_version",
]

Forward = Callable[[], Any]


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


def runtime_version(runtime: str) -> str:
    """The runtime and its version, e.g. ``torch-2.13.0`` or ``onnxruntime-1.32.0``."""
    if runtime == "onnxruntime":
        import onnxruntime

        return f"onnxruntime-{onnxruntime.__version__}"
    return f"{runtime}-{torch.__version__}"


@dataclass(frozen=True)
class NetworkMeasurement:
    """One measurement of a network on a target.

    Attributes:
        target: The target's name.
        runtime: Runtime used.
        runtime_version: :func:`runtime_version`.
        device: :func:`describe_device` of the measuring device.
        batch_size: Batch size timed.
        threads: Intra-op threads.
        median_ms: Median of the kept round.
        p90_ms: 90th percentile of the kept round.
        mean_ms: Mean of the kept round.
        std_ms: Standard deviation of the kept round.
        cv: Coefficient of variation of the kept round.
        stable: Whether the CV is within the policy's threshold.
        rounds: Rounds measured.
        samples_ms: The kept round's per-run timings.
        priority_raised: Whether the measurement ran at normal priority.
        slot_wait_s: Seconds waited for the node's measurement slot.
    """

    target: str
    runtime: str
    runtime_version: str
    device: str
    batch_size: int
    threads: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    stable: bool
    rounds: int
    samples_ms: tuple[float, ...] = field(default_factory=tuple)
    priority_raised: bool = False
    slot_wait_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (without the per-run samples)."""
        return {
            "target": self.target,
            "runtime": self.runtime,
            "runtime_version": self.runtime_version,
            "device": self.device,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "measured_ms": self.median_ms,
            "p90_ms": self.p90_ms,
            "cv": self.cv,
            "stable": self.stable,
            "rounds": self.rounds,
            "samples": len(self.samples_ms),
            "priority_raised": self.priority_raised,
        }


def _torch_device(target: LatencyTarget) -> torch.device:
    if target.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"target {target.name!r} measures on cuda, but this node has no CUDA device")
    return torch.device(target.device)


def _ort_session(model: nn.Module, example: torch.Tensor, threads: int) -> Any:
    import onnxruntime as ort

    from nas_service.export import FILE_NAMES, export_module

    with tempfile.TemporaryDirectory(prefix="nas-latency-") as tmp:
        export_module(model, example, Path(tmp), ["onnx"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        return ort.InferenceSession(
            str(Path(tmp) / FILE_NAMES["onnx"]), sess_options=opts, providers=["CPUExecutionProvider"]
        )


def prepare_runner(model: nn.Module, input_shape: Sequence[int], target: LatencyTarget) -> Forward:
    """A zero-argument callable that runs one forward pass of ``model`` as ``target`` deploys it.

    Args:
        model: The network (not modified: a copy is prepared).
        input_shape: Per-sample input shape ``(C, H, W)`` (or ``(C,)`` etc. for a part of a network).
        target: Runtime, device, dtype and batch size.

    Returns:
        The forward callable (its output is returned, so tests can compare runtimes).
    """
    device = _torch_device(target)
    net = copy.deepcopy(model).eval().to(device)
    dtype = torch.float16 if target.dtype == "float16" else torch.float32
    net = net.to(dtype)
    x = torch.randn(target.batch_size, *[int(s) for s in input_shape], generator=torch.Generator().manual_seed(0))
    x = x.to(device=device, dtype=dtype)
    if device.type == "cuda" and x.dim() == 4:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        x = x.contiguous(memory_format=torch.channels_last)
    if target.runtime == "onnxruntime":
        session = _ort_session(net, x, target.threads)
        feed = {session.get_inputs()[0].name: x.numpy()}
        return lambda: session.run(None, feed)[0]
    if target.runtime == "torchscript":
        with torch.inference_mode(False), torch.no_grad():
            scripted = torch.jit.freeze(torch.jit.trace(net, x, check_trace=False))

        def run_script() -> Any:
            with torch.inference_mode():
                return scripted(x)

        return run_script

    def run_eager() -> Any:
        with torch.inference_mode():
            return net(x)

    return run_eager


def _timed(forward: Forward, cuda: bool) -> Any:
    """Run ``forward`` once, timed: milliseconds on the CPU; on a GPU a pair of recorded CUDA events, read by
    :func:`_as_ms` after the round (reading one would synchronise inside the round)."""
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        forward()
        end.record()
        return start, end
    t0 = time.perf_counter_ns()
    forward()
    return (time.perf_counter_ns() - t0) / 1e6


def _as_ms(samples: list[Any], cuda: bool) -> list[float]:
    """A round's :func:`_timed` samples in milliseconds (CUDA events read once the device is done)."""
    if not cuda:
        return samples
    torch.cuda.synchronize()
    return [float(start.elapsed_time(end)) for start, end in samples]


def _time_round(forward: Forward, target: LatencyTarget, cuda: bool) -> list[float]:
    for _ in range(target.warmup):
        forward()
    if cuda:
        torch.cuda.synchronize()
    return _as_ms([_timed(forward, cuda) for _ in range(target.repeats)], cuda)


def measure_module(
    model: nn.Module,
    input_shape: Sequence[int],
    target: LatencyTarget,
    policy: MeasurementPolicy | None = None,
    exclusive: bool = True,
) -> NetworkMeasurement:
    """Measure ``model`` on ``target``: prepare the runtime, then rounds until stable (see the module docstring).

    Args:
        model: The network (or one block of it).
        input_shape: Per-sample input shape.
        target: The latency target.
        policy: CV threshold and round limit (default :class:`MeasurementPolicy`).
        exclusive: Hold the node's measurement slot at normal priority (the caller may hold it already).

    Returns:
        The measurement.
    """
    policy = policy or MeasurementPolicy()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(target.threads)
    try:
        forward = prepare_runner(model, input_shape, target)
        cuda = target.device == "cuda"
        if exclusive:
            with measurement_slot() as slot:
                result = measure_until_stable(lambda: _time_round(forward, target, cuda), policy)
            raised, waited = slot.priority_raised, slot.waited_s
        else:
            result = measure_until_stable(lambda: _time_round(forward, target, cuda), policy)
            raised, waited = False, 0.0
    finally:
        torch.set_num_threads(previous_threads)
    return _measurement(result, target, raised, waited)


def _time_pair_round(a: Forward, b: Forward, target: LatencyTarget, cuda: bool) -> tuple[list[float], list[float]]:
    """One round of ``a`` and ``b`` timed alternately, run by run, in ABBA order (so neither always runs first,
    with the other's data in the caches); warm-up of both first."""
    for _ in range(target.warmup):
        a()
        b()
    if cuda:
        torch.cuda.synchronize()
    out: tuple[list[Any], list[Any]] = ([], [])
    for i in range(target.repeats):
        for forward, samples in _abba(i, a, b, out):
            samples.append(_timed(forward, cuda))
    return _as_ms(out[0], cuda), _as_ms(out[1], cuda)


def _abba(i: int, a: Forward, b: Forward, into: tuple[list[Any], list[Any]]) -> list[tuple[Forward, list[Any]]]:
    """Run ``i`` of an ABBA sequence: ``a`` then ``b`` on even runs, ``b`` then ``a`` on odd ones."""
    order = [(a, into[0]), (b, into[1])]
    return order if i % 2 == 0 else order[::-1]


def measure_paired(
    model: nn.Module,
    reference: nn.Module,
    input_shape: Sequence[int],
    target: LatencyTarget,
    policy: MeasurementPolicy | None = None,
) -> tuple[NetworkMeasurement, float]:
    """Measure ``model`` with ``reference`` (same input) timed alternately run by run, in the node's slot.

    A paired measurement: a burst of load, a clock change or a cache flush falls on both alike, so the ratio of
    the two medians holds where separate measurements of one network drift apart (on a shared 2-core machine
    back-to-back medians of one network varied up to 2x). Rounds repeat until ``model``'s round is stable, as
    :func:`measure_module` does.

    Returns:
        ``model``'s measurement (the kept round) and ``reference``'s latency in that same round, as ``model``'s
        median divided by the median of the run-by-run ratios (so the two give that paired ratio).
    """
    policy = policy or MeasurementPolicy()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(target.threads)
    try:
        a = prepare_runner(model, input_shape, target)
        b = prepare_runner(reference, input_shape, target)
        cuda = target.device == "cuda"
        rounds: list[tuple[Any, float]] = []
        with measurement_slot() as slot:
            for _ in range(policy.max_rounds):
                own, ref = _time_pair_round(a, b, target, cuda)
                stats = round_stats(own)
                # The median of the run-by-run ratios: each pair ran back to back, so a burst that slows one
                # run of the pair slows the other too (the medians of the two sides are hit unevenly).
                ratio = percentile([x / y for x, y in zip(own, ref, strict=True)], 50)
                rounds.append((stats, stats.median_ms / ratio))
                if stats.cv <= policy.cv_threshold:
                    break
    finally:
        torch.set_num_threads(previous_threads)
    kept, ref_ms = min(rounds, key=lambda r: r[0].cv)
    result = StableMeasurement(
        stats=kept, rounds=len(rounds), stable=kept.cv <= policy.cv_threshold, round_cvs=tuple(r[0].cv for r in rounds)
    )
    return _measurement(result, target, slot.priority_raised, slot.waited_s), ref_ms


def _measurement(result: StableMeasurement, target: LatencyTarget, raised: bool, waited: float) -> NetworkMeasurement:
    s = result.stats
    return NetworkMeasurement(
        target=target.name,
        runtime=target.runtime,
        runtime_version=runtime_version(target.runtime),
        device=describe_device(target.device)[:200],
        batch_size=target.batch_size,
        threads=target.threads,
        median_ms=s.median_ms,
        p90_ms=s.p90_ms,
        mean_ms=s.mean_ms,
        std_ms=s.std_ms,
        cv=s.cv,
        stable=result.stable,
        rounds=result.rounds,
        samples_ms=s.samples_ms,
        priority_raised=raised,
        slot_wait_s=waited,
    )

"""Latency measurement: statistics, stability, thread restore, the cache key."""

from __future__ import annotations

import os
import statistics

import numpy as np
import torch

from nas_service.arch.builder import build_model
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig
from workers.latency import describe_device, latency_cache_key, measure_latency


def _net(arch: Architecture) -> torch.nn.Module:
    return build_model(arch.model_copy(update={"num_classes": 10, "resolution": 16, "in_channels": 1}))


def test_measurement_fields_and_mode_restore(tiny_arch: Architecture) -> None:
    model = _net(tiny_arch).train()
    before = torch.get_num_threads()
    m = measure_latency(model, (1, 16, 16), LatencyConfig(device="cpu", warmup=2, repeats=7, batch_size=2))
    assert m.samples == 7 and len(m.samples_ms) == 7
    assert m.median_ms > 0 and m.p90_ms >= m.median_ms * 0.5 and m.std_ms >= 0
    assert m.device.startswith("cpu:") and m.device_kind == "cpu" and m.batch_size == 2 and m.threads == 1
    assert model.training and torch.get_num_threads() == before


def _cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


def test_repeated_measurements_are_stable(tiny_arch: Architecture) -> None:
    """Stability, not speed: repeated measurements of one model agree (coefficient of variation below 15%).

    The box is shared, and load from other processes only ever adds time. So the test always checks the fast
    end of each measurement (its 10th percentile: what the model costs when it has the core), and checks the
    medians too unless the machine is overloaded (1-minute load above its CPU count: then a median measures
    the neighbours). On this kind of VM whole stretches of time also run ~1.6x slower (even the fastest run of
    a measurement moves), so rounds are short (~0.1 s) and one that fails is retried, up to ten rounds; a broken
    protocol (no warm-up, a floating thread count) fails every round.
    """
    model = _net(tiny_arch)
    cfg = LatencyConfig(device="cpu", warmup=20, repeats=40, threads=1)
    rounds = []
    for _ in range(10):
        runs = [measure_latency(model, (1, 16, 16), cfg) for _ in range(5)]
        fast = [float(np.percentile(m.samples_ms, 10)) for m in runs]
        medians = [m.median_ms for m in runs]
        overloaded = os.getloadavg()[0] > (os.cpu_count() or 1)
        rounds.append((round(_cv(fast), 3), round(_cv(medians), 3), overloaded))
        if _cv(fast) < 0.15 and (overloaded or _cv(medians) < 0.15):
            return
    raise AssertionError(f"latency varies by more than 15% in every round (p10 CV, median CV, overloaded): {rounds}")


def test_cache_key_depends_on_what_changes_latency() -> None:
    cfg = LatencyConfig(batch_size=1, threads=1, repeats=30)
    key = latency_cache_key("abc", (1, 16, 16), "cpu:X", cfg)
    assert key == latency_cache_key("abc", [1, 16, 16], "cpu:X", cfg.model_copy(update={"repeats": 99}))
    assert key != latency_cache_key("abd", (1, 16, 16), "cpu:X", cfg)
    assert key != latency_cache_key("abc", (1, 32, 32), "cpu:X", cfg)
    assert key != latency_cache_key("abc", (1, 16, 16), "cpu:Y", cfg)
    assert key != latency_cache_key("abc", (1, 16, 16), "cpu:X", cfg.model_copy(update={"threads": 2}))
    assert key != latency_cache_key("abc", (1, 16, 16), "cpu:X", cfg.model_copy(update={"batch_size": 8}))


def test_describe_device_names_the_cpu() -> None:
    name = describe_device("cpu")
    assert name.startswith("cpu:") and len(name) > 4

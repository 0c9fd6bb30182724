"""Latency measurement: statistics, stability, thread restore, the cache key."""

from __future__ import annotations

import statistics

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


def test_repeated_measurements_are_stable(tiny_arch: Architecture) -> None:
    """Stability, not speed: medians of repeated measurements of one model agree (CV below 15%).

    The box is shared: a burst of load from another process can shift a whole measurement, so a round that is
    unstable is retried (up to three rounds). A broken protocol (no warm-up, a floating thread count) is
    unstable in every round.
    """
    model = _net(tiny_arch)
    cfg = LatencyConfig(device="cpu", warmup=20, repeats=100, threads=1)
    rounds = []
    for _ in range(3):
        medians = [measure_latency(model, (1, 16, 16), cfg).median_ms for _ in range(5)]
        cv = statistics.pstdev(medians) / statistics.fmean(medians)
        rounds.append((round(cv, 3), [round(m, 3) for m in medians]))
        if cv < 0.15:
            return
    raise AssertionError(f"latency medians vary by more than 15% in every round: {rounds}")


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

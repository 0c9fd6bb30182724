"""Measurement: statistics, the re-measure rule, the target-aware cache key, the three runtimes, the slot."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_service.arch.builder import build_model
from nas_service.latency import (
    LatencyTarget,
    MeasurementPolicy,
    latency_cache_key,
    measure_until_stable,
    round_stats,
)
from nas_service.latency.runners import measure_module, measure_paired, prepare_runner, runtime_version
from nas_service.latency.slot import measurement_slot, wait_while_measuring
from nas_service.space import digits_space


def _digits_net(seed: int = 3) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    space = digits_space()
    arch = space.decode(space.sample(seed)).model_copy(update={"resolution": 24})
    torch.manual_seed(0)
    return build_model(arch), (arch.in_channels, 24, 24)


def test_round_stats_match_numpy() -> None:
    values = [1.0, 1.2, 0.9, 3.5, 1.1, 1.05, 0.95]
    s = round_stats(values)
    assert s.median_ms == pytest.approx(np.median(values))
    assert s.p90_ms == pytest.approx(np.percentile(values, 90))
    assert s.cv == pytest.approx(np.std(values) / np.mean(values))
    assert s.samples == 7


def test_unstable_round_is_measured_again_and_flagged_if_it_stays_unstable() -> None:
    noisy, quiet = [1.0, 2.0, 1.0, 3.0], [1.0, 1.01, 0.99, 1.0]
    rounds = iter([noisy, quiet, noisy])
    m = measure_until_stable(lambda: next(rounds), MeasurementPolicy(cv_threshold=0.05, max_rounds=3))
    assert m.rounds == 2 and m.stable and m.stats.samples_ms == tuple(quiet)
    worse = [1.0, 4.0, 1.0, 4.0]
    rounds = iter([noisy, worse, noisy])
    m = measure_until_stable(lambda: next(rounds), MeasurementPolicy(cv_threshold=0.05, max_rounds=3))
    assert m.rounds == 3 and not m.stable and m.stats.samples_ms == tuple(noisy)  # the least noisy round is kept
    assert len(m.round_cvs) == 3


def test_cache_key_includes_the_target_settings_not_its_name() -> None:
    t = LatencyTarget(name="a", runtime="onnxruntime", threads=2)
    key = latency_cache_key("h", (3, 32, 32), t, "cpu:X", "onnxruntime-1.32.0")
    same = t.model_copy(update={"name": "b", "warmup": 99, "repeats": 5, "resource": "latency:b"})
    assert key == latency_cache_key("h", [3, 32, 32], same, "cpu:X", "onnxruntime-1.32.0")
    for change in ({"runtime": "torch"}, {"threads": 1}, {"batch_size": 4}):
        assert key != latency_cache_key("h", (3, 32, 32), t.model_copy(update=change), "cpu:X", "onnxruntime-1.32.0")
    assert key != latency_cache_key("h", (3, 24, 24), t, "cpu:X", "onnxruntime-1.32.0")
    assert key != latency_cache_key("h2", (3, 32, 32), t, "cpu:X", "onnxruntime-1.32.0")
    assert key != latency_cache_key("h", (3, 32, 32), t, "cpu:Y", "onnxruntime-1.32.0")
    assert key != latency_cache_key("h", (3, 32, 32), t, "cpu:X", "onnxruntime-1.33.0")


def test_onnxruntime_and_torchscript_outputs_equal_pytorch() -> None:
    model, shape = _digits_net()
    outs = {}
    for runtime in ("torch", "torchscript", "onnxruntime"):
        forward = prepare_runner(model, shape, LatencyTarget(name="t", runtime=runtime, batch_size=2))
        out = forward()
        outs[runtime] = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    assert outs["torch"].shape == (2, 10)
    np.testing.assert_allclose(outs["onnxruntime"], outs["torch"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outs["torchscript"], outs["torch"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("runtime", ["torch", "torchscript", "onnxruntime"])
def test_measure_module_per_runtime(runtime: str) -> None:
    model, shape = _digits_net()
    before = torch.get_num_threads()
    target = LatencyTarget(name="t", runtime=runtime, warmup=3, repeats=12)
    m = measure_module(model, shape, target, MeasurementPolicy(cv_threshold=0.5, max_rounds=2))
    assert m.runtime == runtime and m.runtime_version == runtime_version(runtime) and m.target == "t"
    assert len(m.samples_ms) == 12 and 0 < m.median_ms <= m.p90_ms * 1.0001 and m.cv >= 0
    assert 1 <= m.rounds <= 2 and m.device.startswith("cpu:")
    assert torch.get_num_threads() == before and model.training  # the caller's model and threads untouched


def test_a_paired_measurement_times_both_networks_run_by_run() -> None:
    from nas_service.arch.spec import Architecture

    small = Architecture.from_block_strings([["ds_r1_k3_s1_c16"]], resolution=24, num_classes=10)
    large = Architecture.from_block_strings(
        [["ds_r1_k3_s1_c16"], ["ir_r4_k5_s1_e6_c64"], ["ir_r4_k5_s1_e6_c96"]], resolution=24, num_classes=10
    )
    target = LatencyTarget(name="t", warmup=2, repeats=16)
    policy = MeasurementPolicy(cv_threshold=0.5, max_rounds=2)
    m, ref = measure_paired(build_model(small), build_model(large), (3, 24, 24), target, policy)
    assert len(m.samples_ms) == 16 and m.target == "t" and 1 <= m.rounds <= 2
    # Eight heavy blocks against one light one: the ratio says which is which by far, whatever the load.
    assert ref > 3 * m.median_ms
    same, same_ref = measure_paired(build_model(small), build_model(small), (3, 24, 24), target, policy)
    assert 0.5 < same.median_ms / same_ref < 2.0


def _hold_slot(lock_dir: str, hold_s: float, nice: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ["NAS_LATENCY_LOCK_DIR"] = lock_dir
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    with measurement_slot() as info:
        start = time.time()
        inside = os.getpriority(os.PRIO_PROCESS, 0)
        time.sleep(hold_s)
        out.put((start, time.time(), inside, info.priority_raised))
    out.put(os.getpriority(os.PRIO_PROCESS, 0))


def test_slot_is_exclusive_raises_priority_and_pauses_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_LATENCY_LOCK_DIR", str(tmp_path))
    ctx = mp.get_context("spawn")
    q1, q2 = ctx.Queue(), ctx.Queue()
    p1 = ctx.Process(target=_hold_slot, args=(str(tmp_path), 1.0, 15, q1))
    p1.start()
    deadline = time.time() + 30
    while not (tmp_path / "measuring").exists() and time.time() < deadline:
        time.sleep(0.01)
    p2 = ctx.Process(target=_hold_slot, args=(str(tmp_path), 0.1, 15, q2))
    p2.start()
    waited = wait_while_measuring(max_wait_s=30)  # a training step between batches pauses meanwhile
    p1.join(30)
    p2.join(30)
    s1, e1, nice1, raised1 = q1.get(timeout=5)
    s2, _e2, _nice2, _raised2 = q2.get(timeout=5)
    assert s2 >= e1 - 0.01  # the second measurement waited for the first
    can_raise = os.geteuid() == 0
    assert raised1 == can_raise and (nice1 == 0) == can_raise  # from Ray's nice 15 back to normal when allowed
    assert q1.get(timeout=5) == 15  # put back afterwards
    assert waited > 0.2 and not (tmp_path / "measuring").exists()

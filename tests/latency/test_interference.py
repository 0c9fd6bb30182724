"""Repeat measurements of one network agree while a training runs beside them on the same machine.

The training is real (a torch training loop in another process) and runs where Ray runs it, at nice 15; the
measurement raises itself back to normal priority inside its slot. The box is shared with other work beyond
this test, which only ever adds time: as in ``tests/workers/test_latency.py``, the fast end of each measurement
(its 10th percentile) must always agree, and the medians too unless the machine is overloaded by others
(1-minute load above its CPU count). A round that fails is retried (up to five).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time

import numpy as np
import torch

from nas_service.arch.builder import build_model
from nas_service.latency import LatencyTarget, MeasurementPolicy
from nas_service.latency.runners import measure_module
from nas_service.space import digits_space


def _cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


def _train_forever(stop: mp.Event) -> None:  # type: ignore[type-arg]
    os.setpriority(os.PRIO_PROCESS, 0, 15)  # where Ray runs its workers
    torch.set_num_threads(1)
    space = digits_space()
    model = build_model(space.decode(space.sample(7)).model_copy(update={"resolution": 24}))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 3, 24, 24), torch.randint(0, 10, (32,))
    while not stop.is_set():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_repeated_measurements_agree_with_training_running() -> None:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    trainer = ctx.Process(target=_train_forever, args=(stop,), daemon=True)
    trainer.start()
    try:
        time.sleep(3.0)  # the trainer is up and busy
        assert trainer.is_alive()
        space = digits_space()
        model = build_model(space.decode(space.sample(3)).model_copy(update={"resolution": 24}))
        target = LatencyTarget(name="t", warmup=10, repeats=30)
        policy = MeasurementPolicy(cv_threshold=0.05, max_rounds=3)
        cvs = []
        for _ in range(5):
            runs = [measure_module(model, (3, 24, 24), target, policy) for _ in range(5)]
            fast = _cv([float(np.percentile(m.samples_ms, 10)) for m in runs])
            medians = _cv([m.median_ms for m in runs])
            overloaded = os.getloadavg()[0] > len(os.sched_getaffinity(0))
            cvs.append((round(fast, 3), round(medians, 3), overloaded))
            if fast < 0.10 and (overloaded or medians < 0.10):
                return
        raise AssertionError(f"repeated measurements vary by more than 10% in every round (p10, median): {cvs}")
    finally:
        stop.set()
        trainer.join(10)

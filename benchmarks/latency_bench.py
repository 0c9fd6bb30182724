"""Latency benchmark: measurement stability under training load, predictor accuracy, query time, runtimes.

(a) CV of 10 repeated measurements of 5 ``digits`` networks with 0, 1 and 2 trainings running on the machine
    (real torch training loops at nice 15, where Ray runs its workers), for three paths:
    ``old`` (today's trial path before this change: one round at the worker's nice 15, no slot),
    ``new`` (measurement slot at normal priority, re-measure while CV > 5 %; the trainers keep running), and
    ``new+pause`` (the same, with trainers that pause between steps while the slot is held,
    :func:`nas_service.latency.slot.wait_while_measuring`). Goal: CV <= 3 % with trainings running.
(b) Predictor share within +-10 % and MAPE on held-out networks of the ``digits`` and ``mnasnet`` spaces for
    ``local-cpu`` torch and onnxruntime (goal >= 95 %; nn-Meter 99 %). ``--n-test`` sets the held-out count
    (the issue asks for >= 200; the default is smaller so a run fits a shared 2-core box: say which you ran).
    ``--mnasnet-resolution`` lowers the mnasnet space's 224 px to keep the run affordable.
(c) Predictor query time: from precomputed parts and from an Architecture (resolve + parts + predict).
(d) torch / onnxruntime latency ratio on the same networks.

``--json`` prints one JSON object instead of the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any


def _trainer(stop: Any, honour_slot: bool) -> None:
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.latency.slot import wait_while_measuring
    from nas_service.space import digits_space

    os.setpriority(os.PRIO_PROCESS, 0, 15)
    torch.set_num_threads(1)
    space = digits_space()
    model = build_model(space.decode(space.sample(11)).model_copy(update={"resolution": 32}))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    while not stop.is_set():
        if honour_slot:
            wait_while_measuring()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _cv(values: Sequence[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


def bench_stability(networks: int, repeats: int, loads: Sequence[int]) -> dict[str, Any]:
    """(a): per path and load, the mean over networks of the CV of ``repeats`` measurement medians."""
    from nas_service.arch.builder import build_model
    from nas_service.latency import LatencyTarget, MeasurementPolicy
    from nas_service.latency.profiling import sample_architectures
    from nas_service.latency.runners import measure_module
    from nas_service.space import digits_space

    archs = [a.model_copy(update={"resolution": 32}) for a in sample_architectures(digits_space(), networks, 3)]
    models = [build_model(a) for a in archs]
    target = LatencyTarget(name="local-cpu")
    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {}
    os.setpriority(os.PRIO_PROCESS, 0, 15)  # the measuring process is a Ray worker
    try:
        for path in ("old", "new", "new+pause"):
            for load in loads:
                stop = ctx.Event()
                procs = [
                    ctx.Process(target=_trainer, args=(stop, path == "new+pause"), daemon=True) for _ in range(load)
                ]
                for p in procs:
                    p.start()
                time.sleep(2.0 if load else 0.0)
                cvs, unstable = [], 0
                try:
                    for model in models:
                        medians = []
                        for _ in range(repeats):
                            if path == "old":
                                m = measure_module(model, (3, 32, 32), target, MeasurementPolicy(max_rounds=1), False)
                            else:
                                m = measure_module(model, (3, 32, 32), target, MeasurementPolicy())
                            medians.append(m.median_ms)
                            unstable += not m.stable
                        cvs.append(_cv(medians))
                finally:
                    stop.set()
                    for p in procs:
                        p.join(10)
                        if p.is_alive():  # a nice-15 trainer on a loaded box may not see the stop in time
                            p.terminate()
                            p.join(5)
                out[f"{path}/{load}"] = {"cv_mean": statistics.fmean(cvs), "cv_max": max(cvs), "unstable": unstable}
                print(f"a. {path}/{load}: {out[f'{path}/{load}']}", file=sys.stderr, flush=True)
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    return out


def bench_predictor(space_name: str, runtime: str, n_train: int, n_test: int, resolution: int | None) -> dict[str, Any]:
    """(b) and (c): profile a fresh predictor on ``n_train + n_test`` networks and time its queries."""
    from nas_service.latency import LatencyPredictor, LatencyTarget, network_parts
    from nas_service.latency.profiling import profile_space, sample_architectures
    from nas_service.space import get_space

    space = get_space(space_name)
    archs = sample_architectures(space, n_train + n_test, seed=0)
    if resolution:
        archs = [a.model_copy(update={"resolution": resolution}) for a in archs]
    target = LatencyTarget(name="local-cpu", runtime=runtime)  # type: ignore[arg-type]
    predictor = LatencyPredictor(target.name)
    t0 = time.perf_counter()
    report = profile_space(predictor, target, archs, n_test / (n_train + n_test))
    elapsed = time.perf_counter() - t0
    parts = [network_parts(a) for a in archs[:50]]
    reps = 200
    t1 = time.perf_counter()
    for _ in range(reps):
        for p in parts:
            predictor.predict_parts(p)
    parts_us = (time.perf_counter() - t1) / (reps * len(parts)) * 1e6
    t2 = time.perf_counter()
    for _ in range(20):
        for a in archs[:50]:
            predictor.predict_parts(network_parts(a))
    arch_us = (time.perf_counter() - t2) / (20 * len(parts)) * 1e6
    whole = {s.arch_hash: s.measured_ms for s in predictor.samples}
    return {
        **report.to_dict(),
        "profile_s": elapsed,
        "query_parts_us": parts_us,
        "query_arch_us": arch_us,
        "measured_ms": [whole[a.arch_hash()] for a in archs],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run (a)-(d) and print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--networks", type=int, default=5, help="(a) networks")
    parser.add_argument("--repeats", type=int, default=10, help="(a) measurements per network")
    parser.add_argument("--loads", type=int, nargs="*", default=[0, 1, 2], help="(a) trainings running")
    parser.add_argument("--n-train", type=int, default=40, help="(b) networks the correction is fitted on")
    parser.add_argument("--n-test", type=int, default=40, help="(b) held-out networks (the issue asks >= 200)")
    parser.add_argument("--spaces", nargs="*", default=["digits", "mnasnet"])
    parser.add_argument("--runtimes", nargs="*", default=["torch", "onnxruntime"])
    parser.add_argument("--mnasnet-resolution", type=int, default=64, help="(b) mnasnet resolution (0: its own)")
    parser.add_argument("--only", choices=["stability", "predictor"], default=None)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    from nas_service.latency.runners import cpu_model_name

    result: dict[str, Any] = {
        "machine": {"cpu": cpu_model_name(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
    }
    if args.only in (None, "stability"):
        result["stability"] = bench_stability(args.networks, args.repeats, args.loads)
    if args.only in (None, "predictor"):
        pred: dict[str, Any] = {}
        for space in args.spaces:
            res = (args.mnasnet_resolution or None) if space == "mnasnet" else None
            for runtime in args.runtimes:
                pred[f"{space}/{runtime}"] = bench_predictor(space, runtime, args.n_train, args.n_test, res)
                shown = {k: v for k, v in pred[f"{space}/{runtime}"].items() if k != "measured_ms"}
                print(f"b. {space}/{runtime}: {shown}", file=sys.stderr, flush=True)
        ratios = {}
        for space in args.spaces:
            t, o = pred.get(f"{space}/torch"), pred.get(f"{space}/onnxruntime")
            if t and o:
                ratios[space] = statistics.median(
                    a / b for a, b in zip(t["measured_ms"], o["measured_ms"], strict=True)
                )
        for v in pred.values():
            v.pop("measured_ms")
        result["predictor"] = pred
        result["torch_over_onnxruntime"] = ratios
    result["machine"]["load_1min_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(f"latency benchmark on {m['cpu']} ({m['cpus']} CPUs), load {m['load_1min']:.1f} -> {m['load_1min_end']:.1f}")
    for key, v in result.get("stability", {}).items():
        print(f"  a. CV of {args.repeats} measurements, {key:<12} mean {v['cv_mean']:.1%}  max {v['cv_max']:.1%}"
              f"  unstable {v['unstable']}")  # fmt: skip
    for key, v in result.get("predictor", {}).items():
        print(
            f"  b. {key:<20} within 10% {v['within_10pct']:.1%}  MAPE {v['mape']:.1%}  tau {v['kendall_tau']:.3f}"
            f"  (train {v['n_train']}, test {v['n_test']}, {v['table_entries']} parts, {v['profile_s']:.0f} s)"
        )
        print(f"  c. {key:<20} query {v['query_parts_us']:.1f} us from parts, {v['query_arch_us']:.1f} us from an"
              " Architecture")  # fmt: skip
    for space, ratio in result.get("torch_over_onnxruntime", {}).items():
        print(f"  d. {space:<20} torch / onnxruntime latency: {ratio:.2f}x (median over networks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

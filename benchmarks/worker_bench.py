"""Worker benchmark: what the Ray execution layer and the trial runner cost on top of the training itself.

Three measurements, printed as one table:

a. **Dispatch overhead**: round trip of a no-op trial (``runner="noop"``: payload decode, one heartbeat, the
   flush, the result) through :class:`workers.executor.RayExecutor` on a local Ray, one at a time, after warm-up;
   median and p90 over ``--dispatch-n`` trials, next to a bare no-op Ray task for reference; plus the
   throughput of a burst of the same number of no-op trials submitted at once.
b. **Training-loop overhead**: images/s of :func:`workers.train.train_proxy` (the loop ``run_trial`` uses: LR
   schedule, loss averaging, stop checks, per-epoch evaluation) against a plain PyTorch loop doing the same work
   (SGD Nesterov, same batches, same evaluation) on the same builder model, same process, interleaved, with
   the order alternating each round; the ratio is the median of per-round ratios (1.0 = no overhead).
c. **Worker efficiency**: ``--trials`` real trials through the executor; the share of each trial's wall time
   spent training and measuring latency (the useful work) vs the rest (data, build, reporting, and the driver-
   side dispatch), for the short trials run here, and an estimate for trials of 30 s and 60 s of useful work
   (the rest is a per-trial constant, measured here in steady state).

Run: ``python -m benchmarks.worker_bench [--dispatch-n 200] [--rounds 5] [--trials 6] [--epochs 1]``.
Numbers depend on the machine and its load; on a shared box compare runs taken back to back.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

BENCH_BLOCKS = [["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e4_c24_se0.25"], ["ir_r2_k5_s2_e4_c40_se0.25"]]


def _arch() -> Any:
    from nas_service.arch.spec import Architecture

    return Architecture.from_block_strings(
        BENCH_BLOCKS, stem={"out_channels": 16}, head={"num_features": 128}, dropout=0.0, name="bench"
    )


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- a. dispatch overhead ---


def bench_dispatch(executor: Any, n: int) -> dict[str, float]:
    """Round-trip and burst numbers of no-op trials, and a bare Ray task for reference."""
    import ray

    from nas_service.jobspec import ProxyConfig
    from workers.executor import FinishedEvent
    from workers.trial import TrialPayload

    payload = TrialPayload(trial_id="noop", job_id="bench", architecture=_arch(), proxy=ProxyConfig())

    def one() -> float:
        t0 = time.perf_counter()
        executor.submit(payload, runner="noop")
        while not any(isinstance(e, FinishedEvent) for e in executor.poll(timeout=1.0)):
            pass
        return (time.perf_counter() - t0) * 1e3

    for _ in range(10):  # start and warm the worker processes
        one()
    trips = [one() for _ in range(n)]

    @ray.remote(num_cpus=1)
    def nothing() -> None:
        return None

    ray.get([nothing.remote() for _ in range(10)])
    bare = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(nothing.remote())
        bare.append((time.perf_counter() - t0) * 1e3)

    def burst(count: int) -> float:
        t0 = time.perf_counter()
        for _ in range(count):
            executor.submit(payload, runner="noop")
        finished = 0
        while finished < count:
            finished += sum(isinstance(e, FinishedEvent) for e in executor.poll(timeout=1.0))
        return time.perf_counter() - t0

    burst(20)  # the first burst makes Ray lease (and maybe start) more workers: not what is measured
    burst_s = burst(n)
    return {
        "trip_median_ms": statistics.median(trips),
        "trip_p90_ms": _pct(trips, 0.9),
        "bare_median_ms": statistics.median(bare),
        "burst_per_trial_ms": burst_s * 1e3 / n,
    }


# --- b. training loop vs a plain loop ---


def _plain_epoch(model: Any, data: Any, cfg: Any) -> float:
    """One epoch of a plain SGD loop plus the same evaluation; returns seconds."""
    import torch

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    n = len(data.train_y)
    order = torch.randperm(n, generator=shuffle)
    for start in range(0, n - 1, cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        if len(idx) < 2:
            break
        loss = loss_fn(model(data.train_x[idx]), data.train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(data.val_y), 512):
            model(data.val_x[start : start + 512]).argmax(1)
    return time.perf_counter() - t0


def bench_training_loop(rounds: int, resolution: int, samples: int) -> dict[str, float]:
    """Images/s of train_proxy vs the plain loop, interleaved; ratio = median of per-round ratios."""
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.jobspec import ProxyConfig
    from workers.data import load_dataset
    from workers.train import train_proxy

    torch.set_num_threads(1)
    cfg = ProxyConfig(
        dataset="digits", resolution=resolution, epochs=1, batch_size=64, max_train_samples=samples, threads=1
    )
    data = load_dataset(cfg)
    arch = _arch().model_copy(update={"num_classes": 10, "resolution": resolution, "in_channels": 1})
    torch.manual_seed(0)
    initial = build_model(arch)
    n = len(data.train_y)
    ours, plain, ratios = [], [], []
    _plain_epoch(copy.deepcopy(initial), data, cfg)  # warm-up (allocator, kernels)
    for r in range(rounds):
        pair = {}
        for which in ("ours", "plain") if r % 2 == 0 else ("plain", "ours"):
            model = copy.deepcopy(initial)
            if which == "ours":
                pair[which] = train_proxy(model, data, cfg).train_seconds
            else:
                pair[which] = _plain_epoch(model, data, cfg)
        ours.append(n / pair["ours"])
        plain.append(n / pair["plain"])
        ratios.append(pair["plain"] / pair["ours"])
    return {
        "ours_img_s": statistics.median(ours),
        "plain_img_s": statistics.median(plain),
        "ratio": statistics.median(ratios),
        "params": float(sum(p.numel() for p in initial.parameters())),
    }


# --- c. worker efficiency ---


def bench_efficiency(executor: Any, trials: int, epochs: int, samples: int, resolution: int) -> dict[str, float]:
    """Useful share (train + latency) of wall time over real trials run one after another."""
    from nas_service.jobspec import LatencyConfig, ProxyConfig
    from workers.executor import CrashedEvent, FinishedEvent
    from workers.trial import TrialPayload

    proxy = ProxyConfig(dataset="digits", resolution=resolution, epochs=epochs, max_train_samples=samples, threads=1)
    latency = LatencyConfig(device="cpu", warmup=10, repeats=30)
    rows = []
    for i in range(trials):
        payload = TrialPayload(trial_id=f"eff{i}", job_id="bench", architecture=_arch(), proxy=proxy, latency=latency)
        t0 = time.perf_counter()
        executor.submit(payload)
        done = None
        while done is None:
            for ev in executor.poll(timeout=1.0):
                if isinstance(ev, CrashedEvent):
                    raise RuntimeError(f"trial crashed: {ev.error}")
                if isinstance(ev, FinishedEvent):
                    done = ev
        end_to_end = time.perf_counter() - t0
        assert done.run is not None, done.result.error
        ph = done.run.phases
        rows.append({"useful": ph.get("train", 0.0) + ph.get("latency", 0.0), "wall": done.result.wall_seconds or 0.0,
                     "e2e": end_to_end, "data": ph.get("data", 0.0)})  # fmt: skip
    steady = rows[1:] if len(rows) > 1 else rows  # the first trial of a worker loads the dataset
    useful = statistics.median(r["useful"] for r in steady)
    overhead = statistics.median(r["e2e"] - r["useful"] for r in steady)
    return {
        "first_e2e_s": rows[0]["e2e"],
        "first_data_s": rows[0]["data"],
        "useful_s": useful,
        "worker_share": statistics.median(r["useful"] / r["wall"] for r in steady),
        "e2e_share": statistics.median(r["useful"] / r["e2e"] for r in steady),
        "overhead_s": overhead,
        "share_30s": 30.0 / (30.0 + overhead),
        "share_60s": 60.0 / (60.0 + overhead),
    }


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dispatch-n", type=int, default=200, help="no-op trials for the dispatch numbers")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the training-loop comparison")
    parser.add_argument("--trials", type=int, default=6, help="real trials for the efficiency numbers")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per efficiency trial (trial length)")
    parser.add_argument("--samples", type=int, default=600, help="training images per epoch")
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--only", choices=["dispatch", "training", "efficiency"], default=None)
    args = parser.parse_args(argv)

    from workers.executor import RayExecutor
    from workers.latency import cpu_model_name

    print(f"worker benchmark on {cpu_model_name()} ({os.cpu_count()} CPUs), load {os.getloadavg()[0]:.1f}")
    rows: list[tuple[str, str]] = []
    if args.only in (None, "training"):
        t = bench_training_loop(args.rounds, args.resolution, args.samples)
        rows += [
            ("b. model", f"{int(t['params'])} params at {args.resolution} px, batch 64, 1 thread"),
            ("b. train_proxy loop", f"{t['ours_img_s']:.0f} img/s"),
            ("b. plain PyTorch loop", f"{t['plain_img_s']:.0f} img/s"),
            ("b. throughput ours/plain", f"{t['ratio']:.3f} (median of {args.rounds} interleaved rounds; 1 = same)"),
        ]
    if args.only in (None, "dispatch", "efficiency"):
        executor = RayExecutor(num_cpus=args.num_cpus, heartbeat_interval_s=1.0)
        try:
            if args.only in (None, "dispatch"):
                d = bench_dispatch(executor, args.dispatch_n)
                rows += [
                    ("a. no-op trial round trip", f"median {d['trip_median_ms']:.2f} ms, p90 {d['trip_p90_ms']:.2f} ms"
                     f" (n={args.dispatch_n})"),
                    ("a. bare Ray task round trip", f"median {d['bare_median_ms']:.2f} ms"),
                    ("a. burst of no-op trials", f"{d['burst_per_trial_ms']:.2f} ms per trial"),
                ]  # fmt: skip
            if args.only in (None, "efficiency"):
                e = bench_efficiency(executor, args.trials, args.epochs, args.samples, args.resolution)
                rows += [
                    ("c. first trial of a worker", f"{e['first_e2e_s']:.2f} s end to end "
                     f"({e['first_data_s']:.2f} s data)"),
                    ("c. useful time per trial", f"{e['useful_s']:.2f} s (train + latency, steady state)"),
                    ("c. useful share, in worker", f"{e['worker_share']:.1%}"),
                    ("c. useful share, end to end", f"{e['e2e_share']:.1%} "
                     f"(overhead {e['overhead_s'] * 1e3:.0f} ms/trial)"),
                    ("c. estimate, 30 s trials", f"{e['share_30s']:.2%}"),
                    ("c. estimate, 60 s trials", f"{e['share_60s']:.2%}"),
                ]  # fmt: skip
        finally:
            executor.shutdown()
    print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

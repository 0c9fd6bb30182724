"""Search-strategy benchmark: hypervolume vs trials on a cheap, real NAS task.

The task: the ``digits`` search space with the input resolution pinned to 16 px, each candidate trained on
scikit-learn's digits (1-2 epochs, one thread, CPU) and its batch-1 latency measured on this CPU. Results are
cached on disk (``benchmarks/.cache/strategies_bench.json``, keyed by the canonical params, the proxy settings
and the CPU model), so repeated runs and overlapping strategies are cheap. Training uses the workers' own
helpers (``workers.trial.run_trial_detailed``) when importable, else a plain minimal loop over
``nas_service.arch.build_model``; ``--surrogate`` (or a missing torch/sklearn) switches to an analytic
surrogate (accuracy from a saturating function of MACs and the block choices, latency from MACs and depth),
and the output says which objective was used.

Every strategy runs with the same trial budget over the same seeds; the table shows the mean hypervolume of
the (accuracy max, latency min) front after each checkpoint, and per strategy the number of trials its mean
curve needs to reach random search's final mean hypervolume, with the ratio to random's budget (< 1: faster).

Run: ``python -m benchmarks.strategies_bench [--budget 16] [--seeds 2] [--surrogate] [--jobs 1]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from nas_service.jobspec import RewardConfig, StrategyConfig
from nas_service.strategies import Objectives, Outcome, make_strategy
from nas_service.strategies._ranking import hypervolume

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
CACHE_FILE = CACHE_DIR / "strategies_bench.json"
DEFAULT_STRATEGIES = ("random", "tpe", "nsga2", "evolution", "mnas-rl")
RESOLUTION = 16
REWARD = {"target_ms": 1.5, "preset": "soft"}

Result = dict[str, Any]  # accuracy, latency_ms, params, macs, seconds


# -- the search space -------------------------------------------------------------------------------------


def bench_space() -> Any:
    """The ``digits`` space with the resolution pinned to 16 px (cheap to train on two shared cores)."""
    from nas_service.space import SearchSpace, get_space

    space = get_space("digits")
    return SearchSpace.model_validate({**space.model_dump(), "resolutions": [RESOLUTION]})


def strategy_settings(name: str, budget: int) -> dict[str, Any]:
    """Per-strategy settings scaled to the budget (populations must be well below it to matter)."""
    pop = max(4, budget // 3)
    return {
        "tpe": {"n_startup_trials": max(4, budget // 4)},
        "nsga2": {"population_size": pop},
        "evolution": {"population": pop, "sample_size": max(2, pop // 3)},
        "mnas-rl": {},
        "random": {},
    }.get(name, {})


# -- objectives -------------------------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU model (latencies are only comparable on one kind of CPU)."""
    try:
        from workers.latency import cpu_model_name

        return str(cpu_model_name())
    except Exception:  # noqa: BLE001 - workers not importable: read it ourselves
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown-cpu"


class RealObjective:
    """Train on digits and measure CPU latency, with an on-disk cache."""

    kind = "real"

    def __init__(self, epochs: int, max_train_samples: int | None, cache: dict[str, Result]):
        """Create the objective (``cache`` is shared with the caller and filled in place)."""
        self.epochs = epochs
        self.max_train_samples = max_train_samples
        self.cache = cache
        self.cpu = cpu_name()
        self.misses = 0
        self.runner = "workers.trial"
        try:
            import workers.trial  # noqa: F401
        except Exception:  # noqa: BLE001 - fall back to the minimal loop
            self.runner = "minimal loop"

    def key(self, space: Any, params: dict[str, Any]) -> str:
        """Cache key: canonical params + proxy settings + CPU model."""
        payload = {
            "params": space.canonicalize(params),
            "epochs": self.epochs,
            "resolution": RESOLUTION,
            "max_train_samples": self.max_train_samples,
            "cpu": self.cpu,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def __call__(self, space: Any, params: dict[str, Any]) -> Result:
        """Accuracy/latency of ``params`` (trained once per key)."""
        key = self.key(space, params)
        if key not in self.cache:
            self.misses += 1
            arch = space.decode(params)
            t0 = time.perf_counter()
            out = self._run_workers(arch) if self.runner == "workers.trial" else self._run_minimal(arch)
            out["seconds"] = round(time.perf_counter() - t0, 3)
            self.cache[key] = out
        return self.cache[key]

    def _proxy(self) -> Any:
        from nas_service.jobspec import ProxyConfig

        return ProxyConfig.model_validate(
            {
                "dataset": "digits",
                "epochs": self.epochs,
                "resolution": RESOLUTION,
                "threads": 1,
                "device": "cpu",
                "amp": False,
                "seed": 0,
                "max_train_samples": self.max_train_samples,
            }
        )

    def _run_workers(self, arch: Any) -> Result:
        from nas_service.jobspec import LatencyConfig
        from workers.trial import NullReporter, TrialPayload, run_trial_detailed

        payload = TrialPayload.model_validate(
            {
                "trial_id": 0,
                "job_id": "strategies-bench",
                "architecture": arch,
                "proxy": self._proxy(),
                "latency": LatencyConfig.model_validate(
                    {"device": "cpu", "warmup": 5, "repeats": 20, "threads": 1}
                ),
            }
        )
        r = run_trial_detailed(payload, NullReporter()).result
        if r.state != "completed" or r.accuracy is None or r.latency is None:
            return {
                "accuracy": None,
                "latency_ms": None,
                "params": r.params,
                "macs": r.macs,
                "error": r.error,
            }
        return {"accuracy": r.accuracy, "latency_ms": r.latency.median_ms, "params": r.params, "macs": r.macs}

    def _run_minimal(self, arch: Any) -> Result:
        """A plain SGD loop over ``build_model`` (used only when ``workers`` is not importable)."""
        import numpy as np
        import torch
        import torch.nn.functional as F
        from sklearn.datasets import load_digits

        from nas_service.arch import build_model
        from nas_service.arch.profile import count_macs, count_params

        torch.set_num_threads(1)
        torch.manual_seed(0)
        digits = load_digits()
        x = torch.from_numpy((digits.images / 16.0).astype(np.float32))[:, None].repeat(1, 3, 1, 1)
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
        x = (x - x.mean()) / x.std()
        y = torch.from_numpy(digits.target.astype(np.int64))
        order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
        n_val = len(y) // 5
        val, train = order[:n_val], order[n_val:][: self.max_train_samples]
        arch = arch.model_copy(update={"num_classes": 10, "resolution": RESOLUTION, "in_channels": 3})
        model = build_model(arch)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        model.train()
        for _ in range(self.epochs):
            perm = train[torch.randperm(len(train))]
            for i in range(0, len(perm), 64):
                idx = perm[i : i + 64]
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        model.eval()
        with torch.inference_mode():
            acc = float((model(x[val]).argmax(1) == y[val]).float().mean())
            one = x[:1]
            for _ in range(5):
                model(one)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                model(one)
                times.append((time.perf_counter() - t0) * 1000)
        return {
            "accuracy": acc,
            "latency_ms": statistics.median(times),
            "params": count_params(arch),
            "macs": count_macs(arch, RESOLUTION),
        }


class SurrogateObjective:
    """Analytic stand-in: a pure function of the architecture (no training)."""

    kind = "surrogate"
    misses = 0
    runner = "analytic surrogate"

    def __call__(self, space: Any, params: dict[str, Any]) -> Result:
        """Accuracy saturating in log-MACs with small per-choice effects; latency from MACs and depth."""
        from nas_service.arch.profile import count_macs, count_params

        arch = space.decode(params).model_copy(update={"num_classes": 10, "resolution": RESOLUTION})
        macs = count_macs(arch, RESOLUTION)
        depth = sum(b.repeats for stage in arch.stages for b in stage)
        h = int(
            hashlib.sha256(json.dumps(space.canonicalize(params), sort_keys=True).encode()).hexdigest(), 16
        )
        noise = ((h % 1000) / 1000 - 0.5) * 0.01
        se = sum(1 for stage in arch.stages for b in stage if b.se_ratio)
        acc = 0.97 - 0.35 * math.exp(-macs / 6e5) + 0.004 * se + noise
        lat = 0.3 + macs / 1.5e6 + 0.06 * depth + 0.02 * se
        return {"accuracy": min(acc, 0.995), "latency_ms": lat, "params": count_params(arch), "macs": macs}


# -- running ----------------------------------------------------------------------------------------------


def run_one(
    name: str, seed: int, budget: int, objective: Callable[[Any, dict[str, Any]], Result], batch: int = 1
) -> list[Result]:
    """One strategy, one seed: ask/tell ``budget`` trials; returns the results in tell order."""
    space = bench_space()
    config = StrategyConfig.model_validate(
        {"name": name, "seed": seed, "settings": strategy_settings(name, budget)}
    )
    strategy = make_strategy(config, space, RewardConfig.model_validate(REWARD))
    done: list[Result] = []
    while len(done) < budget:
        for s in strategy.ask(min(batch, budget - len(done))):
            r = objective(space, s.params)
            if r.get("accuracy") is None:
                strategy.tell(s.suggestion_id, Outcome("failed"))
            else:
                strategy.tell(
                    s.suggestion_id,
                    Outcome(
                        "completed",
                        accuracy=r["accuracy"],
                        latency_ms=r["latency_ms"],
                        params=r.get("params"),
                        macs=r.get("macs"),
                    ),
                )
            done.append(r)
    return done


def _worker(args: tuple[str, int, int, bool, int, int | None, int]) -> tuple[str, int, list[Result], dict]:
    name, seed, budget, surrogate, epochs, max_train, batch = args
    cache = load_cache()
    objective: Any = SurrogateObjective() if surrogate else RealObjective(epochs, max_train, cache)
    before = set(cache)
    results = run_one(name, seed, budget, objective, batch)
    return name, seed, results, {k: v for k, v in cache.items() if k not in before}


def load_cache() -> dict[str, Result]:
    """The on-disk cache (empty when missing or unreadable)."""
    try:
        return dict(json.loads(CACHE_FILE.read_text()))
    except (OSError, ValueError):
        return {}


def save_cache(cache: dict[str, Result]) -> None:
    """Merge ``cache`` into the file and write it atomically (temp file + ``os.replace``), so concurrent runs
    add to each other's results instead of overwriting them."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    merged = load_cache()
    merged.update(cache)
    cache.update(merged)
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(cache, f, sort_keys=True)
    os.replace(tmp, CACHE_FILE)


def hv_curve(results: Sequence[Result], reference: tuple[float, float]) -> list[float]:
    """Hypervolume of the front after each trial."""
    points: list[tuple[float, float]] = []
    curve = []
    for r in results:
        if r.get("accuracy") is not None:
            points.append((float(r["accuracy"]), float(r["latency_ms"])))
        curve.append(hypervolume(points, reference) if points else 0.0)
    return curve


def checkpoints(budget: int) -> list[int]:
    """Trial counts at which the table reports the hypervolume."""
    marks = sorted({max(1, round(budget * f)) for f in (0.25, 0.5, 0.75, 1.0)})
    return marks


def reward_curve(results: Sequence[Result], objectives: Objectives) -> list[float]:
    """Best MnasNet reward so far after each trial."""
    best, curve = 0.0, []
    for r in results:
        if r.get("accuracy") is not None:
            best = max(best, objectives.reward_from(float(r["accuracy"]), float(r["latency_ms"])))
        curve.append(best)
    return curve


def _mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    return [statistics.mean(c[i] for c in curves) for i in range(len(curves[0]))]


def _trials_to(curve: Sequence[float], target: float) -> int | None:
    return next((i + 1 for i, v in enumerate(curve) if v >= target - 1e-12), None)


def summarize(runs: dict[str, list[list[Result]]], budget: int, objectives: Objectives) -> str:
    """The printed table: mean HV at checkpoints, its spread, and the trials each strategy needs to reach
    random search's final mean hypervolume and final mean best reward (ratio to random's budget)."""
    all_points = [r for rs in runs.values() for run in rs for r in run if r.get("accuracy") is not None]
    reference = (
        min(float(r["accuracy"]) for r in all_points) - 1e-6,
        max(float(r["latency_ms"]) for r in all_points) * 1.05,
    )
    hv = {name: [hv_curve(run, reference) for run in rs] for name, rs in runs.items()}
    rw = {name: [reward_curve(run, objectives) for run in rs] for name, rs in runs.items()}
    hv_mean = {name: _mean_curve(c) for name, c in hv.items()}
    rw_mean = {name: _mean_curve(c) for name, c in rw.items()}
    marks = checkpoints(budget)
    head = ["strategy"] + [f"HV@{m}" for m in marks]
    head += ["HV sd", "to random HV", "ratio", "best reward", "to random reward", "ratio"]
    rows = []
    for name in runs:
        cells = [name] + [f"{hv_mean[name][m - 1]:.4f}" for m in marks]
        cells.append(f"{statistics.pstdev(c[-1] for c in hv[name]):.4f}")
        for mean, metric in ((hv_mean, "hv"), (rw_mean, "reward")):
            reach = budget if name == "random" else _trials_to(mean[name], mean["random"][-1])
            if metric == "reward":
                cells.append(f"{rw_mean[name][-1]:.4f}")
            cells += [str(reach) if reach else f">{budget}", f"{reach / budget:.2f}" if reach else "-"]
        rows.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"HV: hypervolume of (accuracy max, latency min) w.r.t. acc={reference[0]:.4f}, "
        f"latency={reference[1]:.3f} ms; 'to random X': trials until the strategy's mean curve reaches random's "
        "final mean X (ratio = trials / budget; random is the reference); means over seeds"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.strategies_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--budget", type=int, default=16, help="trials per strategy and seed (default 16)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (default 2)")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES), help="comma-separated names")
    parser.add_argument("--surrogate", action="store_true", help="analytic surrogate instead of training")
    parser.add_argument("--epochs", type=int, default=1, help="proxy epochs per candidate (default 1)")
    parser.add_argument("--max-train-samples", type=int, default=None, help="cap on training images")
    parser.add_argument("--batch", type=int, default=1, help="suggestions in flight per ask (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel (strategy, seed) runs (default 1)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    if "random" not in names:
        names.insert(0, "random")

    surrogate = args.surrogate
    why = "requested" if surrogate else ""
    if not surrogate:
        try:
            import sklearn  # noqa: F401
            import torch  # noqa: F401

            from nas_service.arch import build_model  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - any missing piece: fall back, loudly
            surrogate, why = True, f"real objective unavailable ({exc})"
    cache = load_cache()
    objective: Any = (
        SurrogateObjective() if surrogate else RealObjective(args.epochs, args.max_train_samples, cache)
    )
    label = f"SURROGATE ({why})" if surrogate else "real"
    print(
        f"objective: {label} via {objective.runner}; digits space at "
        f"{RESOLUTION} px, {args.epochs} epoch(s), CPU latency on {cpu_name()}; budget {args.budget} x "
        f"{args.seeds} seeds; reward target {REWARD['target_ms']} ms",
        flush=True,
    )
    t0 = time.perf_counter()
    runs: dict[str, list[list[Result]]] = {n: [] for n in names}
    jobs = [(n, seed) for n in names for seed in range(args.seeds)]
    if args.jobs > 1:
        work = [
            (n, s, args.budget, surrogate, args.epochs, args.max_train_samples, args.batch) for n, s in jobs
        ]
        with ProcessPoolExecutor(args.jobs) as pool:
            for name, seed, results, new in pool.map(_worker, work):
                runs[name].append(results)
                cache.update(new)
                print(f"  {name} seed {seed}: done ({len(new)} new trainings)", flush=True)
        if not surrogate:
            save_cache(cache)
    else:
        for name, seed in jobs:
            misses = objective.misses
            runs[name].append(run_one(name, seed, args.budget, objective, args.batch))
            if not surrogate:
                save_cache(cache)
            print(f"  {name} seed {seed}: done ({objective.misses - misses} new trainings)", flush=True)
    objectives = Objectives(reward=RewardConfig.model_validate(REWARD))
    print(summarize(runs, args.budget, objectives))
    print(f"wall {time.perf_counter() - t0:.1f} s; cache {CACHE_FILE} ({len(cache)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

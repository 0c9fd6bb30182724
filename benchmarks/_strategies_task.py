"""The task behind ``strategies_bench``: a small digits search space, trained for real and cached by architecture.

The space is the ``digits`` space at 16 px with its choices thinned to 192 distinct networks (stem stride,
first-stage op, expansion/depth/width choices in the later stages), so that the whole space can be trained
once on two shared CPU cores and the benchmark is a table look-up afterwards (the NAS-Bench idea).
``bench_space(384)`` adds a kernel choice in stage 2, ``bench_space(768)`` also an SE choice in the last stage;
``--fill`` trains the smallest space first, then the larger ones. Every
candidate is trained by the workers' own trial runner (:func:`workers.trial.run_trial_detailed`: the same data
pipeline, training loop and latency measurement a job's trial uses), one epoch on scikit-learn's digits, one
thread, seed 0, and its batch-1 latency measured with the service's default :class:`LatencyConfig`.

The cache (``benchmarks/data/strategies_cache.json.gz``) maps the canonical parameter key to accuracy, latency,
parameters and MACs; its ``meta`` records the proxy settings and the CPU the latencies were measured on. A key
missing from the cache is trained on demand (and saved); ``--refresh`` retrains everything a run asks for.

Fill the whole cache in the background: ``nice -n 10 python -m benchmarks._strategies_task --fill``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas_service.strategies.base import params_key

DATA_DIR = Path(__file__).resolve().parent / "data"
CACHE_FILE = DATA_DIR / "strategies_cache.json.gz"
RESOLUTION = 16
EPOCHS = 1

Result = dict[str, Any]  # accuracy, latency_ms, params, macs, seconds


SIZES = (192, 384, 768)


def bench_space(size: int = 192) -> Any:
    """The benchmark's search space: ``digits`` at 16 px thinned to ``size`` (192, 384 or 768) networks."""
    if size not in SIZES:
        raise ValueError(f"no benchmark space of {size} networks; sizes: {SIZES}")
    from nas_service.space import SearchSpace, get_space

    data = get_space("digits").model_dump()
    s0, s1, s2, s3 = data["stages"]
    s0.update(ops=["ds", "mbconv"], kernels=[3], expansions=[6.0], se_ratios=[0.0])
    s1.update(kernels=[3], expansions=[3.0, 6.0], se_ratios=[0.0], repeat_deltas=[-1, 0, 1], width_multipliers=[1.0])
    s2.update(
        kernels=[3, 5] if size >= 384 else [3],
        expansions=[6.0],
        se_ratios=[0.0],
        repeat_deltas=[-1, 0],
        width_multipliers=[0.75, 1.25],
    )
    s3.update(
        kernels=[3],
        expansions=[3.0, 6.0],
        se_ratios=[0.0, 0.25] if size >= 768 else [0.0],
        repeat_deltas=[0],
        width_multipliers=[1.0],
    )
    data.update(name="digits-bench", resolutions=[RESOLUTION])
    return SearchSpace.model_validate(data)


def proxy_meta() -> dict[str, Any]:
    """What the cached numbers depend on (stored in the file; a mismatch invalidates the cache)."""
    return {"space": "digits-bench", "epochs": EPOCHS, "resolution": RESOLUTION, "seed": 0, "threads": 1}


def cpu_name() -> str:
    """The CPU model the latencies were measured on (the workers' own helper)."""
    from workers.latency import cpu_model_name

    return str(cpu_model_name())


class TabularTask:
    """Accuracy and latency of the benchmark space's networks: from the cache, else trained (and cached).

    Attributes:
        space: :func:`bench_space`.
        results: Canonical params key -> result.
        trained: How many networks this instance trained.
    """

    def __init__(self, path: Path = CACHE_FILE, refresh: bool = False):
        """Load the cache at ``path`` (ignored with ``refresh``: everything asked is retrained)."""
        self.space = bench_space(768)  # the smaller spaces' keys are keys of this one too
        self.path = path
        self.refresh = refresh
        self.results: dict[str, Result] = {} if refresh else load_cache(path)
        self._fresh: set[str] = set()
        self.trained = 0

    def key(self, params: dict[str, Any]) -> str:
        """The cache key of ``params`` (canonical, sorted JSON)."""
        return params_key(self.space.canonicalize(params))

    def __call__(self, params: dict[str, Any]) -> Result:
        """The result of ``params`` (trained once per key and process)."""
        key = self.key(params)
        if key not in self.results or (self.refresh and key not in self._fresh):
            self.results[key] = train_one(self.space, params)
            self._fresh.add(key)
            self.trained += 1
        return self.results[key]

    def save(self) -> None:
        """Merge into the cache file (atomically)."""
        save_cache(self.results, self.path)


def load_cache(path: Path = CACHE_FILE) -> dict[str, Result]:
    """The cached results (empty when missing, unreadable or made with other proxy settings)."""
    try:
        with gzip.open(path, "rt") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if data.get("meta", {}).get("proxy") != proxy_meta():
        return {}
    return dict(data.get("results", {}))


def save_cache(results: dict[str, Result], path: Path = CACHE_FILE) -> None:
    """Merge ``results`` into the file at ``path`` and write it atomically (temp file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = load_cache(path)
    merged.update(results)
    payload = {"meta": {"proxy": proxy_meta(), "cpu": cpu_name()}, "results": dict(sorted(merged.items()))}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json.gz")
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(payload, separators=(",", ":")).encode())
    os.replace(tmp, path)


def train_one(space: Any, params: dict[str, Any]) -> Result:
    """Train and measure one network through the workers' trial runner (what a job's trial runs)."""
    from nas_service.jobspec import LatencyConfig, ProxyConfig
    from workers.trial import NullReporter, TrialPayload, run_trial_detailed

    t0 = time.perf_counter()
    meta = proxy_meta()
    proxy = ProxyConfig.model_validate(
        {
            "dataset": "digits",
            "epochs": meta["epochs"],
            "resolution": meta["resolution"],
            "threads": meta["threads"],
            "seed": meta["seed"],
            "device": "cpu",
            "amp": False,
        }
    )
    payload = TrialPayload.model_validate(
        {
            "trial_id": 0,
            "job_id": "strategies-bench",
            "architecture": space.decode(params),
            "proxy": proxy,
            "latency": LatencyConfig.model_validate({"device": "cpu", "threads": 1}),
        }
    )
    r = run_trial_detailed(payload, NullReporter()).result
    ok = r.state == "completed" and r.accuracy is not None and r.latency is not None
    return {
        "accuracy": r.accuracy if ok else None,
        "latency_ms": round(r.latency.median_ms, 5) if ok and r.latency else None,
        "params": r.params,
        "macs": r.macs,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def fill(limit: int | None = None, save_every: int = 20, size: int = 768, reverse: bool = False) -> int:
    """Train every network of the space missing from the cache (seeded random order, the smaller benchmark
    spaces first, so each is complete as early as possible); returns how many were trained."""
    task = TabularTask()
    keys: dict[str, dict[str, Any]] = {}
    for params in bench_space(size).grid():
        keys.setdefault(task.key(params), params)
    todo = [k for k in sorted(keys) if k not in task.results]
    random.Random(0).shuffle(todo)
    todo.sort(key=lambda k: (keys[k]["s3.se"] != 0.0) + (keys[k]["s2.kernel"] != 3))
    if reverse:  # a second process fills from the other end
        todo.reverse()
    todo = todo[:limit] if limit is not None else todo
    print(f"{len(keys)} networks, {len(keys) - len(todo)} cached, training {len(todo)}", flush=True)
    t0 = time.perf_counter()
    for i, key in enumerate(todo, 1):
        task(keys[key])
        if i % save_every == 0 or i == len(todo):
            task.save()
            print(f"  {i}/{len(todo)} in {time.perf_counter() - t0:.0f} s", flush=True)
    return len(todo)


def remeasure(rounds: int = 3, size: int = 768) -> int:
    """Measure every cached network's latency again, ``rounds`` times, and keep the lowest median.

    Latency does not depend on the trained weights, so the network is rebuilt untrained and timed by the
    workers' :func:`workers.latency.measure_latency` (the trial's own path). On a shared, loaded machine a
    single median can be inflated many times by other processes; the minimum over rounds spread in time is the
    robust estimate of the network's own latency.
    """
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.jobspec import LatencyConfig
    from workers.latency import measure_latency

    task = TabularTask()
    space = task.space
    cfg = LatencyConfig.model_validate({"device": "cpu", "threads": 1})
    params_of = {task.key(p): p for p in bench_space(size).grid()}
    best: dict[str, float] = {}
    for _ in range(rounds):
        for key in sorted(set(task.results) & set(params_of)):
            torch.manual_seed(0)
            arch = space.decode(params_of[key]).model_copy(update={"num_classes": 10, "in_channels": 1})
            ms = measure_latency(build_model(arch), (1, RESOLUTION, RESOLUTION), cfg).median_ms
            best[key] = min(ms, best.get(key, math.inf))
    for key, ms in best.items():
        task.results[key] = {**task.results[key], "latency_ms": round(ms, 5), "latency_rounds": rounds}
    task.save()
    return len(best)


def main(argv: Sequence[str] | None = None) -> int:
    """``--fill [--limit N]``: train what the cache lacks; ``--remeasure``: re-time the cached networks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._strategies_task")
    parser.add_argument("--fill", action="store_true", help="train every network missing from the cache")
    parser.add_argument("--limit", type=int, default=None, help="train at most N")
    parser.add_argument("--size", type=int, default=768, choices=SIZES, help="the space to fill (default 768)")
    parser.add_argument("--reverse", action="store_true", help="fill from the other end (a second process)")
    parser.add_argument("--remeasure", type=int, default=0, metavar="ROUNDS", help="re-time cached networks")
    args = parser.parse_args(argv)
    if args.fill:
        fill(args.limit, size=args.size, reverse=args.reverse)
    if args.remeasure:
        print(f"re-timed {remeasure(args.remeasure, args.size)} networks")
    return 0


if __name__ == "__main__":
    sys.exit(main())

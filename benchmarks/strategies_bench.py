"""Search-strategy benchmark: how many trained candidates each strategy needs to match random search.

The task (:mod:`benchmarks._strategies_task`): a 384-network digits space at 16 px, every candidate trained
for real by the workers' trial runner (one epoch, one thread, seed 0) with its latency measured by the
service's latency path; results are cached by architecture in ``benchmarks/data/strategies_cache.json.gz``
(committed), so a fresh clone reprints the table from the cache; ``--refresh`` retrains what a run asks for.

Every strategy runs ``--budget`` trials (default 64) for each of ``--seeds`` seeds (default 5), asking one
candidate at a time. Per strategy the table prints:

* the hypervolume of the (accuracy max, latency min) front after 25/50/75/100 % of the budget, mean and 95 %
  confidence half-width over seeds (Student t); the reference point is the worst accuracy and 1.05x the
  worst latency of the whole space;
* trials to reach random search's final mean hypervolume, per seed, mean and 95 % CI, and the same as a ratio
  of the budget (a seed that never reaches it counts as the full budget: the ratio is then a lower bound, and
  the ``reached`` column says how many seeds got there);
* the same for the best MnasNet reward so far.

Latency-aware strategies get the latency of a candidate before deciding to train it, through a
:class:`~nas_service.strategies.latency.LatencyOracle`: ``-fit`` variants use the default oracle (a model
fitted online to the latencies of the candidates trained so far, cold-started from MACs), ``-measured``
variants the measured latency from the cache (what measuring on the target before training returns).

Run: ``python -m benchmarks.strategies_bench [--budget 64] [--seeds 5] [--strategies a,b] [--refresh]
[--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks._strategies_task import CACHE_FILE, TabularTask, bench_space, cpu_name, proxy_meta
from nas_service.jobspec import RewardConfig, StrategyConfig
from nas_service.strategies import Objectives, Outcome, make_strategy
from nas_service.strategies._ranking import hypervolume

REWARD = {"target_ms": 1.0, "preset": "soft"}
QUANTILES = (0.25, 0.5, 0.75, 1.0)

Result = dict[str, Any]


@dataclass(frozen=True)
class Variant:
    """One row of the table: a registered strategy, its settings and the latency oracle it gets."""

    label: str
    strategy: str
    settings: Callable[[int], dict[str, Any]] = field(default=lambda budget: {})
    oracle: str | None = None  # None, "fit" (the strategy's default) or "measured"


def _pop(budget: int) -> int:
    return max(4, budget // 4)


VARIANTS: dict[str, Variant] = {
    v.label: v
    for v in (
        Variant("random", "random"),
        Variant("tpe", "tpe", lambda b: {"n_startup_trials": max(4, b // 4)}),
        Variant("nsga2", "nsga2", lambda b: {"population_size": _pop(b)}),
        Variant("evolution", "evolution", lambda b: {"population": _pop(b), "sample_size": max(2, _pop(b) // 3)}),
        Variant("mnas-rl", "mnas-rl"),
        Variant(
            "evolution-lat-fit",
            "evolution",
            lambda b: {
                "population": _pop(b),
                "sample_size": max(2, _pop(b) // 3),
                "multi_objective": True,
                "front_filter": True,
            },
            "fit",
        ),
        Variant("surrogate-fit", "surrogate", oracle="fit"),
        Variant("surrogate-measured", "surrogate", oracle="measured"),
    )
}


# -- running ----------------------------------------------------------------------------------------------


def _oracle(kind: str | None, task: TabularTask) -> Any:
    if kind != "measured":
        return None
    from nas_service.strategies.latency import CallableLatencyOracle

    space = task.space

    def measured(arch: Any) -> float:
        return float(task(space.encode(arch))["latency_ms"])

    return CallableLatencyOracle(measured)


def run_one(variant: Variant, seed: int, budget: int, task: TabularTask) -> list[Result]:
    """One strategy, one seed: ask/tell ``budget`` trials one at a time; the results in tell order."""
    space = bench_space()
    config = StrategyConfig.model_validate(
        {"name": variant.strategy, "seed": seed, "settings": variant.settings(budget)}
    )
    kwargs: dict[str, Any] = {}
    oracle = _oracle(variant.oracle, task)
    if oracle is not None:
        kwargs["latency_oracle"] = oracle
    strategy = make_strategy(config, space, RewardConfig.model_validate(REWARD), **kwargs)
    done: list[Result] = []
    while len(done) < budget:
        suggestions = strategy.ask(1)
        if not suggestions:
            break
        s = suggestions[0]
        r = task(s.params)
        if r.get("accuracy") is None:
            strategy.tell(s.suggestion_id, Outcome("failed"))
        else:
            outcome = Outcome(
                "completed", accuracy=r["accuracy"], latency_ms=r["latency_ms"], params=r["params"], macs=r["macs"]
            )
            strategy.tell(s.suggestion_id, outcome)
        done.append(r)
    return done


# -- statistics -------------------------------------------------------------------------------------------


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95 % confidence half-width (Student t; 0 for a single value)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, 0.0
    from scipy.stats import t

    return m, float(t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))


def hv_curve(results: Sequence[Result], reference: tuple[float, float]) -> list[float]:
    """Hypervolume of the front after each trial."""
    points: list[tuple[float, float]] = []
    curve = []
    for r in results:
        if r.get("accuracy") is not None:
            points.append((float(r["accuracy"]), float(r["latency_ms"])))
        curve.append(hypervolume(points, reference) if points else 0.0)
    return curve


def reward_curve(results: Sequence[Result], objectives: Objectives) -> list[float]:
    """Best MnasNet reward so far after each trial."""
    best, curve = 0.0, []
    for r in results:
        if r.get("accuracy") is not None:
            best = max(best, objectives.reward_from(float(r["accuracy"]), float(r["latency_ms"])))
        curve.append(best)
    return curve


def trials_to(curve: Sequence[float], target: float) -> int | None:
    """First trial (1-based) whose value reaches ``target``, or ``None``."""
    return next((i + 1 for i, v in enumerate(curve) if v >= target - 1e-12), None)


def summarize(runs: dict[str, list[list[Result]]], budget: int, task: TabularTask) -> dict[str, Any]:
    """Per strategy: HV at the quantiles, trials and ratio to random's final HV and best reward."""
    # The reference point comes from the whole benchmark space (the cache may hold networks of larger spaces).
    table = [r for r in (task(p) for p in bench_space().grid()) if r.get("accuracy") is not None]
    reference = (
        min(float(r["accuracy"]) for r in table) - 1e-6,
        max(float(r["latency_ms"]) for r in table) * 1.05,
    )
    objectives = Objectives(reward=RewardConfig.model_validate(REWARD))
    curves = {
        name: ([hv_curve(run, reference) for run in rs], [reward_curve(run, objectives) for run in rs])
        for name, rs in runs.items()
    }
    targets = {
        "hv": statistics.fmean(c[-1] for c in curves["random"][0]),
        "reward": statistics.fmean(c[-1] for c in curves["random"][1]),
    }
    marks = [max(1, round(budget * q)) for q in QUANTILES]
    out: dict[str, Any] = {}
    for name, (hv, rw) in curves.items():
        row: dict[str, Any] = {
            "hv": {f"{int(q * 100)}%": mean_ci([c[m - 1] for c in hv]) for q, m in zip(QUANTILES, marks, strict=True)}
        }
        for metric, cs in (("hv", hv), ("reward", rw)):
            reached = [trials_to(c, targets[metric]) for c in cs]
            counts = [float(r if r is not None else budget) for r in reached]
            row[f"trials_to_random_{metric}"] = mean_ci(counts)
            row[f"trials_to_random_{metric}_ratio"] = mean_ci([c / budget for c in counts])
            row[f"reached_random_{metric}"] = sum(r is not None for r in reached)
        row["best_reward"] = mean_ci([c[-1] for c in rw])
        out[name] = row
    return {"reference": reference, "targets": targets, "marks": marks, "rows": out}


def as_json_rows(rows: dict[str, Any]) -> dict[str, Any]:
    """The summary rows with every ``(mean, ci)`` pair split into ``key`` (the mean) and ``key_ci95``."""
    out: dict[str, Any] = {}
    for name, row in rows.items():
        flat: dict[str, Any] = {}
        for key, value in row.items():
            if key == "hv":
                flat["hv"] = {q: m for q, (m, _) in value.items()}
                flat["hv_ci95"] = {q: h for q, (_, h) in value.items()}
            elif isinstance(value, tuple):
                flat[key], flat[f"{key}_ci95"] = value
            else:
                flat[key] = value
        out[name] = flat
    return out


def format_table(summary: dict[str, Any], seeds: int) -> str:
    """The printed table."""
    marks = summary["marks"]
    head = ["strategy"] + [f"HV@{m}" for m in marks]
    head += ["trials to rnd HV", "ratio (95% CI)", "reached", "best reward", "trials to rnd reward", "ratio", "reached"]
    rows = []
    for name, row in summary["rows"].items():
        cells = [name] + [f"{m:.4f}±{h:.4f}" for m, h in row["hv"].values()]
        for metric in ("hv", "reward"):
            if metric == "reward":
                cells.append("{:.4f}±{:.4f}".format(*row["best_reward"]))
            t, th = row[f"trials_to_random_{metric}"]
            r, rh = row[f"trials_to_random_{metric}_ratio"]
            cells += [
                f"{t:.1f}±{th:.1f}",
                f"{r:.2f} ({r - rh:.2f}-{r + rh:.2f})",
                f"{row[f'reached_random_{metric}']}/{seeds}",
            ]
        rows.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    ref = summary["reference"]
    lines.append(
        f"HV w.r.t. accuracy {ref[0]:.4f}, latency {ref[1]:.3f} ms; mean ± 95% CI half-width over {seeds} seeds; "
        f"random's final mean HV {summary['targets']['hv']:.4f}, best reward {summary['targets']['reward']:.4f}; "
        "a seed that never reaches the target counts as the full budget"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.strategies_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=64, help="trials per strategy and seed (default 64)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--strategies", default=",".join(VARIANTS), help="comma-separated rows of the table")
    parser.add_argument("--refresh", action="store_true", help="retrain every network the run asks for")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {sorted(VARIANTS)}")
    if "random" not in names:
        names.insert(0, "random")
    task = TabularTask(refresh=args.refresh)
    t0 = time.perf_counter()
    runs = {n: [run_one(VARIANTS[n], seed, args.budget, task) for seed in range(args.seeds)] for n in names}
    if task.trained:
        task.save()
    summary = summarize(runs, args.budget, task)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "budget": args.budget, "strategies": as_json_rows(summary["rows"])}))
        return 0
    meta = proxy_meta()
    print(
        f"digits-bench space ({bench_space().cardinality()} networks) at {meta['resolution']} px, {meta['epochs']} "
        f"epoch(s) via workers.trial; CPU latency on {cpu_name()}; budget {args.budget} x {args.seeds} seeds; "
        f"reward target {REWARD['target_ms']} ms"
    )
    print(format_table(summary, args.seeds))
    print(
        f"wall {time.perf_counter() - t0:.1f} s; {task.trained} trained now; cache {CACHE_FILE.name} "
        f"({len(task.results)} networks)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

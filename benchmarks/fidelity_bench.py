"""Which proxy should a search use? Rank fidelity and cost of cheap proxies against a long reference training.

On scikit-learn's digits, ``--n`` networks sampled from the ``digits`` space are trained under a *reference*
(``--reference-epochs`` epochs at resolution 32 on the whole training split, default 30) and under each
candidate proxy: 1, 2 and 4 epochs, resolution 16 vs 32, data fraction 0.25 and 0.5. For each candidate it
prints Kendall's tau and Spearman's rho of its validation accuracies against the reference's on the same
networks, and its training time relative to the reference's (one thread each, measured), then the cheapest
candidate with tau >= ``--min-tau`` (:func:`nas_service.fidelity.recommend_proxy`).

Every training is cached in ``benchmarks/.cache/fidelity.json`` (keyed by the network and the proxy), so a
rerun only trains what is missing.

python -m benchmarks.fidelity_bench [--n 20] [--reference-epochs 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

CACHE = Path(__file__).parent / ".cache" / "fidelity.json"
#: name -> ProxyConfig overrides; resolution applies to the network (the digits space searches resolution).
CANDIDATES: dict[str, dict[str, Any]] = {
    "epochs=1": {"epochs": 1},
    "epochs=2": {"epochs": 2},
    "epochs=4": {"epochs": 4},
    "epochs=2,resolution=16": {"epochs": 2, "resolution": 16},
    "epochs=2,resolution=32": {"epochs": 2, "resolution": 32},
    "epochs=2,data_fraction=0.25": {"epochs": 2, "data_fraction": 0.25},
    "epochs=2,data_fraction=0.5": {"epochs": 2, "data_fraction": 0.5},
}


def _train(arch_json: str, overrides: dict[str, Any], seed: int) -> dict[str, float]:
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.arch.spec import Architecture
    from nas_service.jobspec import ProxyConfig
    from workers.data import load_dataset
    from workers.train import train_proxy

    resolution = int(overrides.get("resolution", 32))
    cfg = ProxyConfig(dataset="digits", batch_size=64, lr=0.05, threads=1, seed=seed, **overrides)
    cfg = cfg.model_copy(update={"resolution": resolution})
    data = load_dataset(cfg)
    arch = Architecture.model_validate_json(arch_json).model_copy(
        update={"resolution": resolution, "num_classes": data.num_classes, "in_channels": data.in_channels}
    )
    torch.manual_seed(seed)
    t0 = time.process_time()
    outcome = train_proxy(build_model(arch), data, cfg)
    return {"accuracy": float(outcome.val_accuracy or 0.0), "cpu_s": time.process_time() - t0}


def _networks(n: int, seed: int) -> list[str]:
    """``n`` distinct networks of the digits space (canonical JSON; the resolution is the proxy's)."""
    from nas_service.space import get_space

    space = get_space("digits")
    nets: list[str] = []
    i = 0
    while len(nets) < n:
        arch = space.decode(space.sample(seed * 100_003 + i)).model_copy(update={"resolution": 32})
        i += 1
        if arch.canonical_json() not in nets:
            nets.append(arch.canonical_json())
    return nets


def run(n: int, reference_epochs: int, seed: int, min_tau: float, quiet: bool) -> dict[str, Any]:
    """Train what the cache lacks and compute each candidate's fidelity and relative cost."""
    from nas_service.fidelity import ProxyCandidate, rank_correlations, recommend_proxy

    cache: dict[str, dict[str, float]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    settings = {"reference": {"epochs": reference_epochs, "resolution": 32}, **CANDIDATES}
    nets = _networks(n, seed)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for k, net in enumerate(nets):
        for name, overrides in settings.items():
            key = json.dumps([net, overrides, seed], sort_keys=True)
            if key not in cache:
                cache[key] = _train(net, overrides, seed)
                CACHE.parent.mkdir(parents=True, exist_ok=True)
                CACHE.write_text(json.dumps(cache))
                if not quiet:
                    print(f"  net {k + 1}/{n} {name}: acc {cache[key]['accuracy']:.3f} ({cache[key]['cpu_s']:.1f} s)",
                          file=sys.stderr, flush=True)  # fmt: skip
            results[name].append(cache[key])
    ref_acc = [r["accuracy"] for r in results["reference"]]
    ref_cost = sum(r["cpu_s"] for r in results["reference"])
    rows = []
    for name in CANDIDATES:
        tau, rho = rank_correlations([r["accuracy"] for r in results[name]], ref_acc)
        cost = sum(r["cpu_s"] for r in results[name]) / ref_cost
        mean_acc = sum(r["accuracy"] for r in results[name]) / n
        rows.append({"proxy": name, "kendall_tau": tau, "spearman": rho, "cost": cost, "mean_accuracy": mean_acc})
    pick = recommend_proxy([ProxyCandidate(r["proxy"], r["kendall_tau"], r["cost"]) for r in rows], min_tau)
    return {
        "n": n,
        "reference": f"epochs={reference_epochs},resolution=32",
        "reference_mean_accuracy": sum(ref_acc) / n,
        "min_tau": min_tau,
        "candidates": rows,
        "recommended": pick.name if pick else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the fidelity table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="networks sampled from the digits space")
    parser.add_argument("--reference-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-tau", type=float, default=0.6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.n < 3:
        parser.error("--n must be at least 3")
    report = run(args.n, args.reference_epochs, args.seed, args.min_tau, quiet=args.json)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"digits, {report['n']} networks, reference {report['reference']} "
          f"(mean accuracy {report['reference_mean_accuracy']:.3f})")  # fmt: skip
    print(f"{'proxy':<30} {'tau':>6} {'rho':>6} {'cost':>7} {'mean acc':>9}")
    for row in report["candidates"]:
        tau = "n/a" if row["kendall_tau"] is None else f"{row['kendall_tau']:.2f}"
        rho = "n/a" if row["spearman"] is None else f"{row['spearman']:.2f}"
        print(f"{row['proxy']:<30} {tau:>6} {rho:>6} {row['cost']:>7.3f} {row['mean_accuracy']:>9.3f}")
    print(f"recommended (cheapest with tau >= {report['min_tau']}): {report['recommended']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The controller's cost per trial as a job grows: the real dispatcher and storage, trials that train nothing.

    .venv/bin/python -m benchmarks.controller_scale_bench [--trials 10000] [--strategies random,tpe,...]
        [--backends sqlite,postgres] [--no-postgres] [--json]

One job per (backend, strategy) is driven to ``--trials`` trials through :class:`nas_service.orchestration.
Dispatcher` on SQLite (a temp file) and, when the server at 127.0.0.1:5432 answers, a throwaway Postgres
database (dropped afterwards). The job searches the ``digits`` space; attempts run inline in
:class:`~nas_service.orchestration.InProcessExecutor` with :func:`~nas_service.orchestration.synthetic_trial`
(no training: deterministic accuracy and latency per network, ``--epochs`` epoch reports each), so only the
controller is timed: storage writes, the strategy, the scheduler, the saved state. Strategies: random,
evolution, nsga2, mnas-rl, tpe, and random with ASHA.

Measured at each checkpoint (trial 100, 1,000, 10,000, or 100 and ``--trials``), over the trials of a window
ending there (the last 10 %, at least 20 trials):

* ``report``: handling one finished attempt (store the result, tell the strategy) plus its share of the
  step's state save, p50/p99 in ms;
* ``ask``: placing one suggestion (caps, de-duplication, its trial row with the suggestion id), p50/p99 in
  ms; the strategy's own ``ask`` time is apart (``strategy_ask``: TPE's sampler is O(n) per ask by design;
  the controller must add nothing on top);
* ``epoch``: storing one epoch report and feeding the scheduler (ASHA ranks here), p50;
* the dispatcher's RSS (MiB).

``ratio`` is the p50 per report at the last checkpoint over the p50 at trial 100 (goal <= 1.5); ``load_factor`` is
the same ratio for a fixed CPU task timed after every step (how much busier the machine was), and
``ratio_load_adjusted`` the ratio divided by it. ``--json`` prints
``{"rows": [{"backend", "strategy", "p50_ms": {...}, "ratio", ...}, ...]}`` with ``p50_ms`` keyed by checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {"name": "random"},
    "evolution": {"name": "evolution", "settings": {"population": 20, "sample_size": 5}},
    "nsga2": {"name": "nsga2"},
    "mnas-rl": {"name": "mnas-rl"},
    "tpe": {"name": "tpe"},
    "random+asha": {"name": "random", "multi_fidelity": "asha", "reduction_factor": 3, "min_epochs": 1},
}


@dataclass
class Samples:
    """Timings (ms) tagged with the job's trial count when they were taken."""

    at: list[int] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def add(self, at: int, ms: float) -> None:
        """Record one timing taken when the job had ``at`` trials."""
        self.at.append(at)
        self.ms.append(ms)

    def window(self, end: int) -> list[float]:
        """Timings taken in the window ending at trial ``end`` (the last 10 %, at least 20 trials)."""
        start = end - max(20, end // 10)
        return [m for a, m in zip(self.at, self.ms, strict=True) if start < a <= end]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reference_ms() -> float:
    """Time a fixed pure-Python task (~0.2 ms on an idle core): a probe of how loaded the machine is right now."""
    t0 = time.perf_counter()
    total = 0
    for i in range(5_000):
        total += i * i % 7
    return (time.perf_counter() - t0) * 1000


def _timed(samples: Samples, count: Callable[[], int], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            samples.add(count(), (time.perf_counter() - t0) * 1000)

    return wrapper


def run_one(
    url: str, strategy: str, trials: int, checkpoints: list[int], epochs: int, concurrent: int
) -> dict[str, Any]:
    """Drive one job to ``trials`` trials and measure it (see the module docstring)."""

    from nas_service.jobspec import JobSpec, JobState
    from nas_service.orchestration import Dispatcher, InProcessExecutor
    from nas_service.orchestration import dispatcher as dispatcher_module
    from nas_service.space import digits_space
    from nas_service.storage import SQLAlchemyStorage
    from nas_service.storage.schema import upgrade

    logging.getLogger("nas_service").setLevel(logging.WARNING)
    upgrade(url)
    storage = SQLAlchemyStorage(url)
    spec = JobSpec.model_validate(
        {
            "name": f"bench-{strategy}",
            "strategy": {"seed": 0, **STRATEGIES[strategy]},
            "budget": {"max_trials": trials, "max_concurrent": concurrent, "max_attempts": 1},
            "proxy": {"dataset": "digits", "resolution": 16, "epochs": epochs},
        }
    )
    space = storage.create_space("bench", "digits", digits_space().model_dump(mode="json"))
    job_id = storage.create_job("bench", space.id, spec).id
    with tempfile.TemporaryDirectory() as data_dir:
        d = Dispatcher(storage, InProcessExecutor(), "bench", poll_s=0.0, max_skips=10**9, data_dir=data_dir)
        report, place_s, ask, epoch, save = Samples(), Samples(), Samples(), Samples(), Samples()
        reference = Samples()
        done = [0]
        created = [0]

        def finished(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return real_finished(*args, **kwargs)
            finally:
                done[0] += 1
                report.add(done[0], (time.perf_counter() - t0) * 1000)

        real_finished = d._on_finished
        d._on_finished = finished  # type: ignore[method-assign]
        real_place = dispatcher_module.place

        def placed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return real_place(*args, **kwargs)
            finally:
                created[0] += 1
                place_s.add(created[0], (time.perf_counter() - t0) * 1000)

        dispatcher_module.place = placed  # type: ignore[assignment]
        try:
            rss: dict[int, float] = {}
            per_step_save: list[tuple[int, float]] = []
            d.step(timeout=0.0)  # claims and opens the job
            run = d.jobs[job_id]
            real_ask = run.strategy.ask

            def timed_ask(n: int = 1) -> Any:
                t0 = time.perf_counter()
                out = real_ask(n)
                ms = (time.perf_counter() - t0) * 1000
                for _ in out:
                    ask.add(created[0] + 1, ms / max(1, len(out)))
                return out

            run.strategy.ask = timed_ask  # type: ignore[method-assign]
            real_save = run.save_state

            def timed_save(storage_: Any) -> None:
                t0 = time.perf_counter()
                real_save(storage_)
                per_step_save.append((done[0], (time.perf_counter() - t0) * 1000))

            run.save_state = timed_save  # type: ignore[method-assign,assignment]
            real_epoch = d.storage.report_epoch
            d.storage.report_epoch = _timed(epoch, lambda: done[0] + 1, real_epoch)  # type: ignore[method-assign]
            t_start = time.perf_counter()
            next_cp = 0
            while storage.get_job(job_id).state not in (JobState.COMPLETED, JobState.FAILED):
                d.step(timeout=0.0)
                reference.add(done[0], _reference_ms())
                while next_cp < len(checkpoints) and done[0] >= checkpoints[next_cp]:
                    rss[checkpoints[next_cp]] = _rss_mib()
                    next_cp += 1
            wall = time.perf_counter() - t_start
        finally:
            dispatcher_module.place = real_place  # type: ignore[assignment]
            storage.close()
    # Saves are per step (or per ask batch): spread each over the reports of its step.
    for at, ms in per_step_save:
        save.add(max(at, 1), ms)
    rows: dict[str, Any] = {"p50_ms": {}, "p99_ms": {}, "ask_p50_ms": {}, "ask_p99_ms": {}, "strategy_ask_p50_ms": {},
                            "epoch_p50_ms": {}, "save_p50_ms": {}, "rss_mib": {}}  # fmt: skip
    for cp in checkpoints:
        reports = report.window(cp)
        saves = save.window(cp)
        # one save per step at most; a step handles about ``concurrent`` reports
        share = (statistics.fmean(saves) * len(saves) / max(1, len(reports))) if saves and reports else 0.0
        per_report = [r + share for r in reports]
        rows["p50_ms"][str(cp)] = _round(_pct(per_report, 0.5))
        rows["p99_ms"][str(cp)] = _round(_pct(per_report, 0.99))
        rows["ask_p50_ms"][str(cp)] = _round(_pct(place_s.window(cp), 0.5))
        rows["ask_p99_ms"][str(cp)] = _round(_pct(place_s.window(cp), 0.99))
        rows["strategy_ask_p50_ms"][str(cp)] = _round(_pct(ask.window(cp), 0.5))
        rows["epoch_p50_ms"][str(cp)] = _round(_pct(epoch.window(cp), 0.5))
        rows["save_p50_ms"][str(cp)] = _round(_pct(saves, 0.5))
        rows["rss_mib"][str(cp)] = round(rss.get(cp, _rss_mib()), 1)
    first, last = rows["p50_ms"][str(checkpoints[0])], rows["p50_ms"][str(checkpoints[-1])]
    rows["ratio"] = round(last / first, 2) if first and last else None
    # The machine's own slowdown between the two windows (a fixed CPU task timed after every step): on a shared
    # machine the raw ratio mixes the controller's growth with the load's; this factor tells them apart.
    ref_first = _pct(reference.window(checkpoints[0]), 0.5)
    ref_last = _pct(reference.window(checkpoints[-1]), 0.5)
    rows["load_factor"] = round(ref_last / ref_first, 2) if ref_first and ref_last else None
    rows["ratio_load_adjusted"] = (
        round(rows["ratio"] / rows["load_factor"], 2) if rows["ratio"] and rows["load_factor"] else None
    )
    rows["wall_s"] = round(wall, 1)
    rows["trials"] = done[0]
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _postgres_url() -> tuple[str, str] | None:
    try:
        import psycopg

        name = f"nas_bench_{secrets.token_hex(4)}"
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - a missing server skips the backend, loudly
        print(f"[postgres] skipped: server unreachable ({exc})", file=sys.stderr)
        return None
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _print_row(backend: str, strategy: str, row: dict[str, Any], checkpoints: list[int]) -> None:
    def fmt(d: dict[str, Any]) -> str:
        return " ".join(f"{d[str(cp)] if d[str(cp)] is not None else '-':>7}" for cp in checkpoints)

    print(
        f"{backend:<8} {strategy:<12} report p50 {fmt(row['p50_ms'])} | p99 {fmt(row['p99_ms'])} | "
        f"ask p50 {fmt(row['ask_p50_ms'])} | strategy ask p50 {fmt(row['strategy_ask_p50_ms'])} | "
        f"epoch p50 {fmt(row['epoch_p50_ms'])} | RSS MiB {fmt(row['rss_mib'])} | ratio {row['ratio']} "
        f"(load x{row['load_factor']}: {row['ratio_load_adjusted']}) | "
        f"{row['trials']} trials in {row['wall_s']} s",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and print a table (``--json``: one JSON document on stdout)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=10_000, help="trials per job (checkpoints: 100, 1000, N)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset")
    parser.add_argument("--epochs", type=int, default=3, help="epoch reports per trial")
    parser.add_argument("--concurrent", type=int, default=4, help="budget.max_concurrent")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--no-postgres", action="store_true", help="same as --backends sqlite")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    args = parser.parse_args(argv)
    if args.trials < 100:
        parser.error("--trials must be at least 100 (the first checkpoint)")
    names = [s for s in args.strategies.split(",") if s]
    unknown = sorted(set(names) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {sorted(STRATEGIES)}")
    checkpoints = sorted({c for c in (100, 1000, 10_000) if c < args.trials} | {args.trials})
    out: list[dict[str, Any]] = []
    backends: list[tuple[str, Callable[[], tuple[str, Callable[[], None]] | None]]] = []

    def sqlite() -> tuple[str, Callable[[], None]]:
        tmp = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(tmp.name) / 'nas.db'}", tmp.cleanup

    def postgres() -> tuple[str, Callable[[], None]] | None:
        pg = _postgres_url()
        if pg is None:
            return None
        return pg[1], lambda: _drop_postgres(pg[0])

    wanted = {b for b in args.backends.split(",") if b} - ({"postgres"} if args.no_postgres else set())
    if wanted - {"sqlite", "postgres"}:
        parser.error(f"unknown backends {sorted(wanted - {'sqlite', 'postgres'})}; choose from sqlite, postgres")
    if "sqlite" in wanted:
        backends.append(("sqlite", sqlite))
    if "postgres" in wanted:
        backends.append(("postgres", postgres))
    for backend, make in backends:
        for name in names:
            made = make()
            if made is None:
                break
            url, cleanup = made
            try:
                row = run_one(url, name, args.trials, checkpoints, args.epochs, args.concurrent)
            finally:
                cleanup()
            row = {"backend": backend, "strategy": name, **row}
            out.append(row)
            if not args.json:
                _print_row(backend, name, row, checkpoints)
    if args.json:
        print(json.dumps({"checkpoints": checkpoints, "rows": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

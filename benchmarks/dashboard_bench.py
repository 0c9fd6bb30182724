"""Dashboard benchmark: time until a large job's Pareto front is drawn in headless chromium.

    .venv/bin/python benchmarks/dashboard_bench.py [--trials 10000] [--runs 3] [--json]
    .venv/bin/python benchmarks/dashboard_bench.py --trials 100000 --replicate-from 10000

Seeding goes through the storage API as the dispatcher drives it: a real strategy (``random``) asks, each
candidate is created with its architecture, parameter and MAC counts, claimed, reported with a synthetic
result and told back to the strategy, and the strategy state is saved with ``save_strategy_state`` every
``--save-every`` trials and at the end (so the job row carries the state a dispatcher leaves). On a busy
2-core machine that costs ~30 ms per trial: ``--replicate-from N`` seeds N trials that way and then copies
them in bulk (SQL, perturbed accuracy and latency, fronts, rewards and counters recomputed in Python) up to
``--trials``; the report says so. Seeded databases are cached in a temp directory between runs.

Serves the job with the real controller app on 127.0.0.1, loads the job page and reads
``window.__nasFrontDrawnAt`` (the scatter and the front are on the canvas) and ``window.__nasTrialsLoadedAt``
(every trial's row is loaded: the table and all tooltips work). Prints time-to-front per run, the payload
sizes of the page's requests and the machine's load average before and after (timings on a shared machine
are only comparable at a similar load). ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def seed_like_dispatcher(storage: Any, n_trials: int, *, seed: int = 0, save_every: int = 1000) -> Any:
    """A completed job of ``n_trials`` trials proposed by a real strategy, stored as the dispatcher stores them.

    Returns:
        The final ``JobRecord``.
    """
    from nas_service.arch.profile import count_macs, count_params
    from nas_service.jobspec import BudgetConfig, JobSpec, JobState, RewardConfig, StrategyConfig, TrialState
    from nas_service.space import digits_space
    from nas_service.strategies import Outcome
    from nas_service.strategies.registry import make_strategy
    from nas_service.testing import synthetic_result

    rng = random.Random(seed)
    space = digits_space()
    spec = JobSpec(
        name=f"bench-{n_trials}",
        strategy=StrategyConfig(name="random", seed=seed),
        budget=BudgetConfig(max_trials=max(1, n_trials)),
        reward=RewardConfig(target_ms=2.0),
    )
    space_rec = storage.create_space("admin", f"bench-{n_trials}-space", space.model_dump(mode="json"))
    job = storage.create_job("admin", space_rec.id, spec)
    storage.transition_job(job.id, JobState.RUNNING)
    strategy = make_strategy(spec.strategy, space, spec.reward)
    for i in range(n_trials):
        suggestion = strategy.ask(1)[0]
        arch = suggestion.architecture.model_copy(update={"num_classes": 10, "in_channels": 1})
        params_count, macs = count_params(arch), count_macs(arch, arch.resolution)
        trial = storage.create_trial(job.id, suggestion.params, arch, params_count=params_count, macs=macs)
        claimed = storage.claim_trial(job.id, "bench-dispatcher")
        state = TrialState.FAILED if i % 17 == 16 else TrialState.COMPLETED
        result = synthetic_result(rng, state).model_copy(update={"params": params_count, "macs": macs})
        storage.report_trial(trial.id, claimed.attempts, result, f"bench-{trial.id}")
        lat = result.latency.median_ms if result.latency else None
        strategy.tell(
            suggestion.suggestion_id,
            Outcome(
                state="failed" if state == TrialState.FAILED else "completed",
                accuracy=result.accuracy,
                latency_ms=lat,
                params=params_count,
                macs=macs,
            ),
        )
        if (i + 1) % save_every == 0:
            storage.save_strategy_state(job.id, {"strategy": strategy.state_dict()})
    storage.save_strategy_state(job.id, {"strategy": strategy.state_dict()})
    return storage.transition_job(job.id, JobState.COMPLETED)


def replicate_trials(db_path: Path, job_id: int, target: int, seed: int) -> None:
    """Copy the job's trials in bulk until it has ``target`` (SQLite; benchmark seeding only).

    Copies get new numbers, slightly lower accuracy and higher latency (so the front stays a front); the
    rewards, ``on_front`` flags and the job's counters are then recomputed with the Python definitions.
    """
    from nas_service.jobspec import JobSpec
    from nas_service.pareto import ParetoFront2D
    from nas_service.reward import reward_from_config

    con = sqlite3.connect(db_path)
    con.create_function("jitter", 1, lambda k: random.Random(k).random(), deterministic=True)
    cols = [r[1] for r in con.execute("PRAGMA table_info(trials)") if r[1] != "id"]
    (base,) = con.execute("SELECT count(*) FROM trials WHERE job_id = ?", (job_id,)).fetchone()
    copy = 1
    while (n := min(base, target - base * copy)) > 0:  # the first n trials again, numbered after the last copy
        select = {c: c for c in cols}
        select["number"] = f"number + {copy * base}"
        select["accuracy"] = f"max(0.0, accuracy - 0.03 * jitter(id * 7919 + {copy + seed}))"
        select["latency_ms"] = f"latency_ms * (1 + 0.08 * jitter(id * 104729 + {copy + seed}))"
        select["report_key"] = f"report_key || '-copy{copy}'"
        select["on_front"] = "0"
        con.execute(
            f"INSERT INTO trials ({', '.join(cols)}) SELECT {', '.join(select[c] for c in cols)} FROM trials "
            f"WHERE job_id = ? AND number <= ? ORDER BY number",
            (job_id, n),
        )
        copy += 1
    (spec_json,) = con.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
    cfg = JobSpec.model_validate(json.loads(spec_json)).reward
    front: ParetoFront2D[int] = ParetoFront2D()
    rewards = []
    best: tuple[float, int] | None = None
    rows = con.execute(
        "SELECT id, accuracy, latency_ms FROM trials WHERE job_id = ? AND state = 'completed' ORDER BY number",
        (job_id,),
    ).fetchall()
    for tid, acc, lat in rows:
        r = reward_from_config(acc, lat, cfg)
        rewards.append((r, tid))
        front.add(tid, acc, lat)
        if best is None or r > best[0]:
            best = (r, tid)
    con.executemany("UPDATE trials SET reward = ? WHERE id = ?", rewards)
    con.execute("UPDATE trials SET on_front = 0 WHERE job_id = ?", (job_id,))
    con.executemany("UPDATE trials SET on_front = 1 WHERE id = ?", [(i,) for i in front.ids()])
    counts = dict(con.execute("SELECT state, count(*) FROM trials WHERE job_id = ? GROUP BY state", (job_id,)))
    con.execute(
        "UPDATE jobs SET trials_total = ?, trials_completed = ?, trials_failed = ?, best_reward = ?, "
        "best_trial_id = ?, event_seq = (SELECT max(updated_seq) FROM trials WHERE job_id = ?) WHERE id = ?",
        (
            sum(counts.values()),
            counts.get("completed", 0),
            counts.get("failed", 0),
            *(best or (None, None)),
            job_id,
            job_id,
        ),
    )
    con.commit()
    con.close()


def _seeded_dir(trials: int, seed: int, replicate_from: int | None) -> tuple[Path, str]:
    """A data directory holding a seeded database, built once per setting and copied per run."""
    from nas_service.storage import open_storage

    through_api = min(trials, replicate_from or trials)
    cache = Path(tempfile.gettempdir()) / f"nas-dashboard-bench-v2-{trials}-{through_api}-{seed}"
    how = f"{through_api} trials through the storage API (random strategy, state saved)"
    if through_api < trials:
        how += f", copied in bulk to {trials}"
    if not (cache / "nas.db").exists() or not (cache / "job-id").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        base = Path(tempfile.gettempdir()) / f"nas-dashboard-bench-v2-{through_api}-{through_api}-{seed}"
        if through_api < trials and (base / "nas.db").exists():
            shutil.copy(base / "nas.db", cache / "nas.db")
            job_id = int((base / "job-id").read_text())
        else:
            storage = open_storage(f"sqlite:///{cache / 'nas.db'}", check_schema=True, auto_upgrade=True)
            t0 = time.perf_counter()
            job_id = seed_like_dispatcher(storage, through_api, seed=seed).id
            storage.close()
            print(f"seeded {through_api} trials in {time.perf_counter() - t0:.1f} s")
        if through_api < trials:
            t0 = time.perf_counter()
            replicate_trials(cache / "nas.db", job_id, trials, seed)
            print(f"copied up to {trials} trials in {time.perf_counter() - t0:.1f} s")
        (cache / "job-id").write_text(str(job_id))
    return cache, how


def _load_once(browser: Any, server: Any, job_id: int) -> tuple[float, float, float, str, str, dict[str, int]]:
    """Open the job page in a fresh context; its two timings, the front and point counts, bytes per path."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"localStorage.setItem('nas-token', {server.token!r});")
    page = context.new_page()
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r))
    page.goto(f"{server.url}/dashboard/jobs/{job_id}")
    page.wait_for_function("window.__nasFrontDrawnAt != null && window.__nasTrialsLoadedAt != null", timeout=300_000)
    # The views (history, choices, importance) load after the trials: wait, so that the next run starts on an
    # idle server.
    page.wait_for_function("window.__nasViewsLoadedAt != null", timeout=600_000)
    views = float(page.evaluate("window.__nasViewsLoadedAt"))
    drawn = float(page.evaluate("window.__nasFrontDrawnAt"))
    loaded = float(page.evaluate("window.__nasTrialsLoadedAt"))
    front = page.locator("#pareto").get_attribute("data-front-count") or "?"
    points = page.locator("#pareto").get_attribute("data-point-count") or "?"
    sizes: dict[str, int] = {}
    for r in responses:
        try:
            body = r.body()
        except Exception:  # the event stream has no finished body
            continue
        key = r.url.replace(server.url, "").split("?")[0]
        sizes[key] = sizes.get(key, 0) + len(body)
    context.close()
    return drawn, loaded, views, front, points, sizes


def main() -> None:
    """Seed, serve, load the page ``--runs`` times and print the timings and payload sizes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--replicate-from", type=int, default=None, help="seed this many through the API, copy in bulk to --trials"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from nas_service.testing import CHROMIUM, CHROMIUM_FLAGS, LiveServer

    cache, how = _seeded_dir(args.trials, args.seed, args.replicate_from)
    load_before = os.getloadavg()
    job_id = int((cache / "job-id").read_text())
    work = Path(tempfile.mkdtemp(prefix="nas-bench-"))
    shutil.copy(cache / "nas.db", work / "nas.db")
    server = LiveServer(work).start()
    runs: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for run in range(args.runs):
                drawn, loaded, views, front, points, run_sizes = _load_once(browser, server, job_id)
                runs.append(
                    {
                        "front_drawn_ms": drawn,
                        "trials_loaded_ms": loaded,
                        "views_loaded_ms": views,
                        "points": points,
                        "front": front,
                    }
                )
                if run == 0:
                    sizes = run_sizes
                if not args.json:
                    print(
                        f"run {run + 1}: front drawn at {drawn:.0f} ms, every trial loaded at {loaded:.0f} ms, "
                        f"views at {views:.0f} ms ({points} points, {front} on the front)"
                    )
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    drawn_median = statistics.median(r["front_drawn_ms"] for r in runs)
    loaded_median = statistics.median(r["trials_loaded_ms"] for r in runs)
    views_median = statistics.median(r["views_loaded_ms"] for r in runs)
    total = sum(sizes.values())
    if args.json:
        print(
            json.dumps(
                {
                    "trials": args.trials,
                    "seeding": how,
                    "front_drawn_ms_median": drawn_median,
                    "trials_loaded_ms_median": loaded_median,
                    "views_loaded_ms_median": views_median,
                    "runs": runs,
                    "payload_bytes": sizes,
                    "load_average": {"before": load_before, "after": os.getloadavg()},
                    "cpus": os.cpu_count(),
                }
            )
        )
        return
    load = " / ".join(f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in (load_before, os.getloadavg()))
    print(f"seeding: {how}")
    print(f"load average (1, 5, 15 min) before / after: {load} on {os.cpu_count()} CPUs")
    print(f"time to drawn Pareto front: median {drawn_median:.0f} ms over {len(runs)} runs")
    print(f"time to every trial loaded (table, tooltips): median {loaded_median:.0f} ms")
    print(f"time to the views loaded (history, parallel coordinates, importance): median {views_median:.0f} ms")
    print(f"payload (first run, uncompressed): {total / 1e6:.2f} MB")
    for key, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {size / 1e3:10.1f} kB  {key}")


if __name__ == "__main__":
    main()

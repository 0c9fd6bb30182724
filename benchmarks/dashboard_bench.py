"""Dashboard benchmark: time until a 10,000-trial job's Pareto front is drawn in headless chromium.

    .venv/bin/python benchmarks/dashboard_bench.py [--trials 10000] [--runs 3]

Seeds a job through the storage API (cached in a temp directory between runs: seeding 10k trials takes
minutes on a small machine), serves it with the real controller app on 127.0.0.1, loads the job page and
reads ``window.__nasFrontDrawnAt`` (the scatter and the front are on the canvas) and
``window.__nasTrialsLoadedAt`` (every trial's row is loaded: the table and all tooltips work).
Prints time-to-front per run, the payload sizes of the page's requests and the machine's load average before
and after (timings on a shared machine are only comparable at a similar load).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _seeded_dir(trials: int, seed: int) -> Path:
    """A data directory holding a seeded database, built once per (trials, seed) and copied per run."""
    from nas_service.storage import open_storage
    from nas_service.testing import seed_job

    cache = Path(tempfile.gettempdir()) / f"nas-dashboard-bench-{trials}-{seed}"
    if not (cache / "nas.db").exists() or not (cache / "job-id").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        storage = open_storage(f"sqlite:///{cache / 'nas.db'}", check_schema=True, auto_upgrade=True)
        t0 = time.perf_counter()
        job = seed_job(storage, trials, seed=seed, epochs=False, name=f"bench-{trials}")
        storage.close()
        (cache / "job-id").write_text(str(job.id))
        print(f"seeded {trials} trials in {time.perf_counter() - t0:.1f} s (cached at {cache})")
    return cache


def _load_once(browser: Any, server: Any, job_id: int) -> tuple[float, float, str, str, dict[str, int]]:
    """Open the job page in a fresh context; its two timings, the front and point counts, bytes per path."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"localStorage.setItem('nas-token', {server.token!r});")
    page = context.new_page()
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r))
    page.goto(f"{server.url}/dashboard/jobs/{job_id}")
    page.wait_for_function("window.__nasFrontDrawnAt != null && window.__nasTrialsLoadedAt != null", timeout=300_000)
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
    return drawn, loaded, front, points, sizes


def main() -> None:
    """Seed, serve, load the page ``--runs`` times and print the timings and payload sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from nas_service.testing import CHROMIUM, CHROMIUM_FLAGS, LiveServer

    cache = _seeded_dir(args.trials, args.seed)
    load_before = os.getloadavg()
    job_id = int((cache / "job-id").read_text())
    work = Path(tempfile.mkdtemp(prefix="nas-bench-"))
    shutil.copy(cache / "nas.db", work / "nas.db")
    server = LiveServer(work).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            times: list[float] = []
            all_loaded: list[float] = []
            sizes: dict[str, int] = {}
            for run in range(args.runs):
                drawn, loaded, front, points, run_sizes = _load_once(browser, server, job_id)
                times.append(drawn)
                all_loaded.append(loaded)
                if run == 0:
                    sizes = run_sizes
                print(
                    f"run {run + 1}: front drawn at {drawn:.0f} ms, every trial loaded at {loaded:.0f} ms "
                    f"({points} points, {front} on the front)"
                )
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    load = " / ".join(f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in (load_before, os.getloadavg()))
    print(f"load average (1, 5, 15 min) before / after: {load} on {os.cpu_count()} CPUs")
    print(f"time to drawn Pareto front: median {statistics.median(times):.0f} ms over {len(times)} runs")
    print(f"time to every trial loaded (table, tooltips): median {statistics.median(all_loaded):.0f} ms")
    total = sum(sizes.values())
    print(f"payload (first run, uncompressed): {total / 1e6:.2f} MB")
    for key, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {size / 1e3:10.1f} kB  {key}")


if __name__ == "__main__":
    main()

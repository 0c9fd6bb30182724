"""API under concurrent load: GET /jobs, /jobs/{id}/pareto and /jobs/{id}/trials at 20 and 50 clients.

    .venv/bin/python -m benchmarks.api_load_bench [--requests 1000] [--clients 20 50] [--trials 500]
        [--no-postgres] [--profile] [--json]

A bounded load generator: a fixed number of requests, loopback only. The server is the real ``nas serve
--no-dispatcher`` in its own process (so the load generator does not share its interpreter), on a seeded
SQLite file and, when the server at 127.0.0.1:5432 answers, on a throwaway Postgres database (dropped
afterwards). The owner has 20 jobs, one of them with ``--trials`` finished trials. ``--clients`` coroutines share
one HTTP/1.1 connection pool (one connection per client) and send the three requests in turn until
``--requests`` are done. Prints requests per second, p50/p99 latency and errors (non-200 replies and transport
errors) per backend and client count; ``--json`` prints one JSON document instead.

``--profile`` samples the server with py-spy (``pip install py-spy``) during the first run of each backend and
prints the functions where the most samples were seen (own time and cumulative).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
GOAL_P99_MS = 200.0


def _seed(url: str, trials: int) -> tuple[str, int]:
    """Migrate ``url`` and create the owner's 20 jobs (one with ``trials`` trials); returns (token, big job id)."""
    from nas_service.storage import SQLAlchemyStorage, TokenScope
    from nas_service.storage.schema import upgrade
    from nas_service.testing import seed_job

    upgrade(url)
    store = SQLAlchemyStorage(url)
    try:
        token = store.create_token("bench", TokenScope.USER).token
        for i in range(19):
            seed_job(store, 5, owner="bench", seed=i, name=f"small-{i}", epochs=False)
        big = seed_job(store, trials, owner="bench", seed=99, name="big", epochs=False)
        return token, big.id
    finally:
        store.close()


def _free_port() -> int:
    from nas_service.testing import free_port

    return free_port()


def _start_server(data_dir: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NAS_DATA_DIR": str(data_dir), "NAS_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "nas_service.cli.main", "serve", "--no-dispatcher", "--port", str(port)]
    cmd += ["--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nas serve exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("nas serve did not come up in 60 s")


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _load(base: str, token: str, job_id: int, clients: int, requests: int) -> dict[str, Any]:
    """Send ``requests`` GETs from ``clients`` concurrent clients; latencies per request."""
    import httpx

    paths = ["/api/v1/jobs", f"/api/v1/jobs/{job_id}/pareto", f"/api/v1/jobs/{job_id}/trials?limit=50"]
    latencies: list[float] = []
    by_path: dict[str, list[float]] = {p.split("?")[0].replace(str(job_id), "{id}"): [] for p in paths}
    errors: Counter[str] = Counter()
    issued = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < requests:
                path = paths[issued % len(paths)]
                issued += 1
                started = time.perf_counter()
                try:
                    reply = await client.get(path)
                    if reply.status_code != 200:
                        errors[str(reply.status_code)] += 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - started)
                by_path[path.split("?")[0].replace(str(job_id), "{id}")].append(latencies[-1])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(ordered),
        "wall_s": round(wall, 3),
        "req_per_s": round(len(ordered) / wall, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "p50_ms_by_path": {p: round(1000 * statistics.median(v), 1) for p, v in by_path.items() if v},
    }


def _frame(text: str) -> str:
    """``func (path/to/pkg/module.py:12)`` -> ``func (pkg/module.py)``."""
    name, _, where = text.partition(" (")
    path = where.split(":")[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})"


def _is_ours(text: str) -> bool:
    """Whether a py-spy frame is in this project's code (api/ or nas_service/, not a dependency)."""
    path = text.partition(" (")[2]
    return "site-packages" not in path and path.lstrip("./").startswith(("api/", "nas_service/"))


def _profile_top(raw: Path, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Own and cumulative shares of the samples per function, from py-spy's ``raw`` (collapsed) output."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if " (" in f]
        frames = [_frame(f) for f in raw_frames]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
        for frame in {_frame(f) for f in raw_frames if _is_ours(f)}:
            ours[frame] += count
    if not total:
        return {"own": [], "cumulative": [], "ours": []}
    share = lambda c: [(name, round(100 * n / total, 1)) for name, n in c.most_common(top)]  # noqa: E731
    return {"own": share(own), "cumulative": share(cumulative), "ours": share(ours)}


def _run_backend(name: str, url: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    token, job_id = _seed(url, args.trials)
    port = _free_port()
    proc = _start_server(data_dir, url, port)
    base = f"http://127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    profile: dict[str, Any] | None = None
    try:
        asyncio.run(_load(base, token, job_id, 4, 60))  # warm-up: connections, caches, imports
        for i, clients in enumerate(args.clients):
            spy = None
            raw = data_dir / f"profile-{name}.txt"
            if args.profile and i == 0:
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(proc.pid), "--format", "raw", "--rate", "200", "-o", str(raw),
                     "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1.0)
            runs.append({"backend": name, **asyncio.run(_load(base, token, job_id, clients, args.requests))})
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
                if raw.exists():
                    profile = _profile_top(raw)
                    if os.environ.get("NAS_BENCH_KEEP_PROFILE"):
                        shutil.copy(raw, os.environ["NAS_BENCH_KEEP_PROFILE"])
    finally:
        _stop_server(proc)
    return {"runs": runs, "profile": profile}


def _postgres_url() -> tuple[str, str] | None:
    try:
        import psycopg

        name = f"nas_bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    except Exception as exc:  # noqa: BLE001 - no server: the benchmark says so and runs SQLite only
        print(f"(Postgres skipped: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load at each client count on each backend; print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per run (default 1000)")
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50], help="concurrent clients per run")
    parser.add_argument("--trials", type=int, default=500, help="finished trials of the big job (default 500)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy (first run)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    results: dict[str, Any] = {"requests": args.requests, "trials": args.trials, "goal_p99_ms_at_20": GOAL_P99_MS}
    backends: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nas-load-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        backends.append(
            {"backend": "sqlite", **_run_backend("sqlite", f"sqlite:///{sqlite_dir / 'nas.db'}", args, sqlite_dir)}
        )
        pg = None if args.no_postgres else _postgres_url()
        if pg is not None:
            try:
                pg_dir = Path(tmp) / "postgres"
                pg_dir.mkdir()
                backends.append({"backend": "postgres", **_run_backend("postgres", pg[1], args, pg_dir)})
            finally:
                _drop_postgres(pg[0])
    results["backends"] = backends
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.requests} requests per run (GET jobs / pareto / trials in turn), big job {args.trials} trials")
    print(f"{'backend':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for backend in backends:
        for run in backend["runs"]:
            print(
                f"{run['backend']:<9} {run['clients']:>7} {run['req_per_s']:>8.1f} {run['p50_ms']:>8.1f} "
                f"{run['p99_ms']:>8.1f} {run['errors']:>7}"
            )
    for backend in backends:
        for run in backend["runs"]:
            per_path = ", ".join(f"{p} {ms:.0f}" for p, ms in run["p50_ms_by_path"].items())
            print(f"p50 ms by path ({run['backend']}, {run['clients']} clients): {per_path}")
    for backend in backends:
        if backend.get("profile"):
            print(f"\nserver profile ({backend['backend']}, first run), % of samples")
            for kind in ("own", "cumulative", "ours"):
                print(f"  {kind}:")
                for name, pct in backend["profile"][kind]:
                    print(f"    {pct:5.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Results endpoints at scale: GET /pareto and GET /best on a job with 10,000 completed trials.

    .venv/bin/python -m benchmarks.pareto_bench [--trials 10000] [--repeat 7] [--no-postgres]

Seeds one job on SQLite (a temp file) and, when the server at 127.0.0.1:5432 answers, on a throwaway Postgres
database (dropped afterwards). Trials are bulk-inserted with their rewards and ``on_front`` flags computed
the way ``report_trial`` maintains them (the benchmark measures reads, not seeding). Every request goes
through the real app in-process (ASGI); the storage holds no cache, so every request is cold. Prints the
median and best latency of each request over ``--repeat`` runs and the payload size.
"""

from __future__ import annotations

import argparse
import math
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def _seed(url: str, trials: int, seed: int) -> tuple[int, str, int]:
    """Create a job with ``trials`` completed trials; returns (job id, user token, front size)."""
    from sqlalchemy import insert, update

    from nas_service.jobspec import JobSpec, JobState, RewardConfig
    from nas_service.pareto import pareto_front
    from nas_service.reward import mnasnet_reward
    from nas_service.storage import SQLAlchemyStorage
    from nas_service.storage.orm import JobRow, TrialRow, utcnow
    from nas_service.storage.schema import upgrade
    from nas_service.storage.testing import make_arch

    upgrade(url)
    store = SQLAlchemyStorage(url)
    token = store.create_token("bench").token
    space = store.create_space("bench", "bench-space", {"bench": True})
    job = store.create_job("bench", space.id, JobSpec(name="bench", reward=RewardConfig(target_ms=3.0)))
    store.transition_job(job.id, JobState.RUNNING)
    rng = random.Random(seed)
    arch = make_arch()
    arch_json, blocks = arch.model_dump(mode="json"), arch.block_strings()
    points = []  # accuracy grows with latency (bigger nets), with noise: a realistic, non-trivial front
    for _ in range(trials):
        lat = rng.uniform(0.5, 12.0)
        acc = 0.97 - 0.55 * math.exp(-lat / 3.0) + rng.gauss(0.0, 0.03)
        points.append((min(0.999, max(0.05, acc)), lat))
    front = set(pareto_front(points))
    now = utcnow()
    rows = [
        {
            "job_id": job.id,
            "number": i + 1,
            "state": "completed",
            "params": {"s0.kernel": 3, "s0.expansion": 6, "i": i},
            "architecture": arch_json,
            "block_strings": blocks,
            "arch_hash": f"{i:032x}",
            "params_count": rng.randint(20_000, 200_000),
            "macs": rng.randint(1_000_000, 50_000_000),
            "accuracy": acc,
            "latency_ms": lat,
            "latency_p90_ms": lat * 1.1,
            "reward": mnasnet_reward(acc, lat, 3.0, -0.07, -0.07),
            "attempts": 1,
            "epochs_run": 3,
            "on_front": i in front,
            "updated_seq": 1,
            "created_at": now,
            "finished_at": now,
        }
        for i, (acc, lat) in enumerate(points)
    ]
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(TrialRow), rows[start : start + 1000])
        conn.execute(update(JobRow).where(JobRow.id == job.id).values(trials_total=trials, trials_completed=trials))
    store.close()
    return job.id, token, len(front)


def _time(client: object, path: str, headers: dict[str, str], repeat: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, headers=headers)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        size = len(response.content)
    return statistics.median(times) * 1000, min(times) * 1000, size


def _bench(label: str, url: str, trials: int, repeat: int) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from nas_service.settings import Settings
    from nas_service.storage import SQLAlchemyStorage

    started = time.perf_counter()
    job_id, token, front = _seed(url, trials, seed=0)
    print(f"[{label}] seeded {trials} completed trials in {time.perf_counter() - started:.1f} s; front size {front}")
    store = SQLAlchemyStorage(url)
    headers = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory() as data, TestClient(create_app(Settings(data_dir=Path(data)), store)) as c:
        base = f"/api/v1/jobs/{job_id}"
        for name, path in [
            ("GET /pareto", f"{base}/pareto"),
            ("GET /pareto?target_ms=2&alpha=-0.3", f"{base}/pareto?target_ms=2&alpha=-0.3"),
            ("GET /best?k=10", f"{base}/best?k=10"),
            ("GET /best?k=10&target_ms=2 (re-scores all)", f"{base}/best?k=10&target_ms=2"),
            ("GET /trials?sort=reward&limit=50", f"{base}/trials?sort=reward&limit=50"),
        ]:
            median, best, size = _time(c, path, headers, repeat)
            print(f"[{label}] {name:44s} median {median:7.1f} ms  best {best:7.1f} ms  payload {size:8d} B")
    store.close()


def _postgres_url() -> tuple[str, str] | None:
    try:
        import psycopg

        name = f"nas_bench_{secrets.token_hex(4)}"
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"[postgres] skipped: server unreachable ({exc})")
        return None
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: Sequence[str] | None = None) -> int:
    """Seed, time and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        _bench("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.trials, args.repeat)
    if not args.no_postgres and (pg := _postgres_url()) is not None:
        try:
            _bench("postgres", pg[1], args.trials, args.repeat)
        finally:
            _drop_postgres(pg[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

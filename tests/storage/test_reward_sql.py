"""The storage's SQL reward against the Python definition, on the shared table of cases, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Float, literal, select

from nas_service.jobspec import JobSpec, RewardConfig
from nas_service.reward import mnasnet_reward
from nas_service.storage import BaseStorage
from nas_service.storage._engine import make_engine
from nas_service.storage._reward import reward_expression
from nas_service.storage.testing import run_trial

CASES = json.loads((Path(__file__).parents[1] / "cases" / "definition_cases.json").read_text())["reward"]


def test_sql_reward_matches_python_on_every_shared_case(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            for case in CASES:
                expr = reward_expression(
                    literal(case["acc"], Float), literal(case["lat"], Float), case["T"], case["alpha"], case["beta"]
                )
                got = conn.execute(select(expr)).scalar_one()
                assert got == pytest.approx(case["expected"], rel=1e-12, abs=1e-15), case
    finally:
        engine.dispose()


def test_best_reranked_in_sql_follows_the_python_reward(storage: BaseStorage) -> None:
    space = storage.create_space("alice", "s", {"stages": []})
    job = storage.create_job("alice", space.id, JobSpec(name="rank"))
    points = [(0.90, 4.0), (0.80, 1.0), (0.95, 9.0), (0.70, 0.5), (0.85, 2.0), (0.91, 5.0)]
    ids = [run_trial(storage, job.id, acc, lat) for acc, lat in points]
    cfg = RewardConfig(target_ms=2.0, alpha=-0.3, beta=-0.9)
    ranked = [t.id for t in storage.best(job.id, k=len(points), reward=cfg)]
    by_python = sorted(ids, key=lambda i: -mnasnet_reward(*points[ids.index(i)], 2.0, -0.3, -0.9))
    assert ranked == by_python

"""``nas demo`` end to end, as a new user runs it: a subprocess, nothing configured, a real search on Ray."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas_service.jobspec import JobState, TrialState
from nas_service.storage import SQLAlchemyStorage

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ray
@pytest.mark.slow
def test_demo_runs_a_real_search(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env.update(NAS_DATA_DIR=str(data_dir), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", COLUMNS="120")
    command = [sys.executable, "-m", "nas_service.cli.main", "demo", "--trials", "2", "--epochs", "1"]
    t0 = time.monotonic()
    proc = subprocess.run(
        [*command, "--timeout", "150"], cwd=REPO, env=env, capture_output=True, text=True, timeout=200
    )
    wall = time.monotonic() - t0
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert "Pareto front" in proc.stdout and "latency ms" in proc.stdout
    match = re.search(
        r"dashboard \(served only while the demo runs\): http://127\.0\.0\.1:\d+/dashboard/jobs/(\d+)", proc.stdout
    )
    assert match, proc.stdout
    assert "reward target T = " in proc.stderr
    print(f"nas demo --trials 2 --epochs 1: {wall:.1f} s")

    storage = SQLAlchemyStorage(f"sqlite:///{data_dir / 'demo' / 'nas.db'}")
    try:
        job = storage.get_job(int(match.group(1)))
        assert job.state == JobState.COMPLETED
        trials = storage.list_trials(job.id, limit=50).items
        trained = [t for t in trials if t.state not in (TrialState.REJECTED, TrialState.DUPLICATE)]
        assert len(trained) == 2  # candidates over the demo's MACs cap are stored rejected, untrained
        assert all(t.state == TrialState.COMPLETED for t in trained)
        assert all(t.accuracy is not None and t.latency_ms is not None for t in trained)
        assert job.trials_completed == 2
        assert storage.pareto(job.id), "a completed job has a non-empty Pareto front"
    finally:
        storage.close()

"""``nas proxy study`` end to end on a tiny setting: the CLI (a subprocess) against a live controller whose
dispatcher runs the study's jobs on a real local Ray. The reference job trains the sampled networks, one
``final`` job per candidate retrains them under the candidate proxy, and the printed taus equal scipy's on the
stored accuracies; running the same command again attaches to the same jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import kendalltau

from nas_service.jobspec import JobState, TrialState
from nas_service.testing import LiveServer
from workers.dispatcher import Dispatcher

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]
REFERENCE = "epochs=2,max_train_samples=300,batch_size=64,threads=1,device=cpu"  # the space searches resolution


def _study(live: LiveServer, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "nas_service.cli.main", "proxy", "study", "--space", "digits", "--n", "3",
        "--reference", REFERENCE, "--candidate", "epochs=1", "--candidate", "resolution=16,data_fraction=0.5",
        "--threshold", "-1", "--url", live.url, "--token", live.token, *extra,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_a_proxy_study_ranks_its_candidates_against_the_reference(executor: Any, tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "controller").start()
    dispatcher = Dispatcher(live.storage, executor, "study", poll_s=0.2, data_dir=live.data_dir)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        done = _study(live, "--json")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        result = json.loads(done.stdout)
        storage = live.storage
        ref_id = result["reference_job_id"]
        reference = storage.get_job(ref_id)
        assert reference.state == JobState.COMPLETED and reference.spec.proxy.epochs == 2
        ref_acc = {t.id: t.accuracy for t in storage.list_trials(ref_id, states=[TrialState.COMPLETED]).items}
        assert result["n"] == len(ref_acc) >= 2
        assert [c["name"] for c in result["candidates"]] == ["epochs=1", "resolution=16,data_fraction=0.5"]
        for c in result["candidates"]:
            job = storage.get_job(c["job_id"])
            assert job.state == JobState.COMPLETED and job.spec.final is not None
            assert job.spec.final.recipe == "proxy" and job.spec.final.source_job_id == ref_id
            rows = storage.list_trials(job.id, states=[TrialState.COMPLETED]).items
            acc = {int(t.params["source_trial"]): t.accuracy for t in rows}
            assert c["n"] == len(acc) == len(ref_acc)
            own = {t.id: t.resolution for t in storage.list_trials(ref_id, states=[TrialState.COMPLETED]).items}
            if "resolution" in c["proxy"]:  # every network at the candidate's resolution; else at its own
                assert all(t.resolution == 16 for t in rows)
            else:
                assert all(t.resolution == own[int(t.params["source_trial"])] for t in rows)
            common = sorted(acc)
            tau = kendalltau([ref_acc[k] for k in common], [acc[k] for k in common]).statistic
            assert c["kendall_tau"] is None or c["kendall_tau"] == pytest.approx(tau)
            assert c["cost"] > 0
        assert storage.get_job(result["candidates"][0]["job_id"]).spec.proxy.epochs == 1
        assert storage.get_job(result["candidates"][1]["job_id"]).spec.proxy.data_fraction == 0.5
        assert result["recommended"] in (None, "epochs=1", "resolution=16,data_fraction=0.5")

        again = _study(live)  # the same study: attaches to its jobs, trains nothing new, prints the table
        assert again.returncode == 0, again.stderr[-2000:]
        assert "attached to the study's reference job" in again.stderr and "epochs=1" in again.stdout
        assert storage.list_jobs().total == 3
    finally:
        stop.set()
        thread.join(60)
        live.stop()

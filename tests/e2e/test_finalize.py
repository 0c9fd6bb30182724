"""Stage two end to end: a small search, ``finalize`` of its 3 best networks, a worker SIGKILLed in the middle
of a final training resuming from its checkpoint, and the proxy-fidelity numbers on the stored values.

Real parts only: the dispatcher drives a real :class:`~workers.executor.RayExecutor` on a local Ray over SQLite;
the final job is created through the API route (``POST /jobs/{id}/finalize``) and read back through
``GET /jobs/{id}/fidelity``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scipy.stats import kendalltau, spearmanr

from nas_service.jobspec import JobState, TrialState
from workers.dispatcher import Dispatcher

pytestmark = [pytest.mark.slow, pytest.mark.ray]

FINAL_EPOCHS = 5


def _worker_pid(trial: Any) -> int | None:
    worker = trial.worker or ""
    if trial.state != TrialState.RUNNING or not trial.node or ":" not in worker:
        return None
    pid = worker.rsplit(":", 1)[1]
    return int(pid) if pid.isdigit() else None


def test_search_then_finalize_top3_with_a_killed_final_training(
    sqlite_store: Any, executor: Any, e2e: Any, tmp_path: Path
) -> None:
    from api.app import create_app
    from nas_service.artifacts import load_trial_checkpoint
    from nas_service.settings import Settings

    store = sqlite_store
    spec = e2e.tiny_spec(budget={"max_trials": 5, "max_concurrent": 2}, proxy={"max_train_samples": 300})
    job_id = e2e.submit(store, spec)
    data_dir = tmp_path / "data"
    dispatcher = Dispatcher(store, executor, "e2e-final", poll_s=0.2, lease_s=60, stale_after_s=120,
                            data_dir=data_dir)  # fmt: skip
    app = create_app(Settings(data_dir=data_dir), store)
    alice = {"Authorization": f"Bearer {store.create_token('alice').token}"}
    bob = {"Authorization": f"Bearer {store.create_token('bob').token}"}
    try:
        e2e.drive(dispatcher, store, job_id, e2e.job_done(store, job_id), 300, "the search to finish")
        assert store.get_job(job_id).state == JobState.COMPLETED
        with TestClient(app) as client:
            # Someone else's job is a 404; an impossible top_k a 422 naming it.
            assert client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 3}, headers=bob).status_code == 404
            bad = client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 99}, headers=alice)
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "top_k", bad.json()
            made = client.post(
                f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 3, "epochs": FINAL_EPOCHS}, headers=alice
            )
            assert made.status_code == 201, made.json()
            final = made.json()
        final_id = final["id"]
        assert final["kind"] == "final" and final["spec"]["final"]["source_job_id"] == job_id
        sources = final["spec"]["final"]["trial_ids"]
        ranked = sorted(
            (t for t in e2e.trials_of(store, job_id) if t.state == TrialState.COMPLETED),
            key=lambda t: (-(t.reward or 0), t.id),
        )
        assert sources == [t.id for t in ranked[:3]]
        assert final["spec"]["proxy"]["max_train_samples"] is None and final["spec"]["proxy"]["epochs"] == FINAL_EPOCHS

        # Kill the worker of the first final training once it stored two epochs' checkpoint.
        victim: dict[str, Any] = {}

        def past_two_epochs() -> bool:
            for trial in e2e.trials_of(store, final_id):
                pid = _worker_pid(trial)
                running = pid is not None and trial.attempts == 1 and 2 <= trial.epochs_run < FINAL_EPOCHS - 1
                if running and load_trial_checkpoint(store, data_dir, trial.id) is not None:
                    victim.update(trial=trial, pid=pid)
                    return True
            return False

        e2e.drive(dispatcher, store, final_id, past_two_epochs, 300, "a final training past two epochs")
        os.kill(victim["pid"], signal.SIGKILL)
        e2e.drive(dispatcher, store, final_id, e2e.job_done(store, final_id), 400, "the final job to finish")
    finally:
        dispatcher.close()

    assert store.get_job(final_id).state == JobState.COMPLETED, store.get_job(final_id).error
    finals = e2e.trials_of(store, final_id)
    assert sorted(int(t.params["source_trial"]) for t in finals) == sorted(sources)
    assert all(t.state == TrialState.COMPLETED and t.epochs_run == FINAL_EPOCHS for t in finals)
    killed = store.get_trial(victim["trial"].id)
    assert killed.attempts == 2
    history = [(m.attempt, m.epoch) for m in store.list_metrics(killed.id, all_attempts=True)]
    first = [e for a, e in history if a == 1]
    second = [e for a, e in history if a == 2]
    # The retry continued from the checkpoint: its epochs follow the first attempt's, none repeated.
    assert first[:2] == [1, 2] and second and second[0] > 1 and second == list(range(second[0], FINAL_EPOCHS + 1))
    assert second[0] <= first[-1] + 1

    with TestClient(app) as client:
        got = client.get(f"/api/v1/jobs/{final_id}/fidelity", headers=alice)
        assert got.status_code == 200, got.json()
        fid = got.json()
        assert client.get(f"/api/v1/jobs/{job_id}/fidelity", headers=alice).status_code == 422
    by_source = {int(t.params["source_trial"]): t for t in finals}
    proxy_acc = [store.get_trial(s).accuracy for s in sources]
    final_acc = [by_source[s].accuracy for s in sources]
    assert fid["n"] == 3 and [n["source_trial_id"] for n in fid["networks"]] == sources
    assert [n["final_accuracy"] for n in fid["networks"]] == final_acc
    if len(set(proxy_acc)) > 1 and len(set(final_acc)) > 1:
        assert fid["kendall_tau"] == pytest.approx(kendalltau(proxy_acc, final_acc).statistic)
        assert fid["spearman"] == pytest.approx(spearmanr(proxy_acc, final_acc).statistic)
    final_rewards = {s: by_source[s].reward for s in sources}
    best = max(final_rewards.values())
    assert fid["regret"] == pytest.approx(best - final_rewards[fid["proxy_pick"]])
    assert fid["top1_agrees"] == (fid["regret"] == 0)

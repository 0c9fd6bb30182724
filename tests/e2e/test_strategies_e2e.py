"""Every search strategy end to end through the real dispatcher and a real Ray executor, across a restart.

Per strategy: dispatcher A (its own :class:`~workers.executor.RayExecutor` on the session's local Ray) runs a
4-trial job on the tiny space until two trials are terminal, then either stops cleanly (``close()``: running
attempts cancelled and requeued, the claim given back) or "crashes" (dropped without closing: its Ray work is
killed, the database is left as it was, the claim expires). Dispatcher B (new objects, same storage) finishes.
The strategy's saved history must continue A's: A's tells restored before B's first ask (B's suggestion ids
carry on from A's, A's history is a prefix of the final one), every suggestion told exactly once.

Also the ``compound-scaling`` job kind end to end, with its scaling table read through the dashboard route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nas_service.jobspec import JobState, TrialState

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Small populations / startup counts, so that B's asks are shaped by A's tells (not only random sampling).
STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {"shuffle": True},
    "tpe": {"n_startup_trials": 2},
    "nsga2": {"population_size": 2},
    "evolution": {"population": 2, "sample_size": 2},
    "mnas-rl": {},
    "surrogate": {"n_initial": 2, "candidates": 16},
}
# Alternate the way A goes away, so both recovery paths run for several strategies.
HANDOVER = {"random": "close", "grid": "crash", "tpe": "close", "nsga2": "crash", "evolution": "crash",
            "mnas-rl": "close", "surrogate": "crash"}  # fmt: skip
LEASE_S = 3.0


def _terminal(store: Any, job_id: int, e2e: Any) -> int:
    return sum(t.state in e2e.TRAINED_STATES and t.finished_at is not None for t in e2e.trials_of(store, job_id))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_strategy_runs_end_to_end_and_resumes_after_a_restart(
    name: str, sqlite_store: Any, ray_session: None, e2e: Any
) -> None:
    store = sqlite_store
    spec = e2e.tiny_spec(
        strategy={"name": name, "seed": 3, "settings": STRATEGIES[name]},
        budget={"max_trials": 4, "max_concurrent": 2, "max_attempts": 3},
    )
    job_id = e2e.submit(store, spec)
    how = HANDOVER[name]

    first, first_ex = e2e.ray_dispatcher(store, f"{name}-a", lease_s=LEASE_S)
    try:
        e2e.drive(first, store, job_id, lambda: _terminal(store, job_id, e2e) >= 2, 240, "two terminal trials")
        if how == "close":
            first.close()
    finally:
        first_ex.shutdown()  # a crash: its Ray work dies, the database stays as the last step left it
    handed_over = store.load_strategy_state(job_id)
    assert handed_over is not None
    a_history = e2e.history_of(store, job_id)
    a_next_id = handed_over["strategy"]["next_id"]
    assert len(a_history) >= 2
    job = store.get_job(job_id)
    assert job.state == JobState.RUNNING
    assert (job.claimed_by is None) == (how == "close")

    second, second_ex = e2e.ray_dispatcher(store, f"{name}-b")
    try:
        e2e.drive(second, store, job_id, e2e.job_done(store, job_id), 400, f"{name}: B to finish the job")
    finally:
        second.close()
        second_ex.shutdown()

    job = store.get_job(job_id)
    rows = e2e.trials_of(store, job_id)
    assert job.state == JobState.COMPLETED, (job.error, [(t.id, t.state, t.error) for t in rows])
    trained = [t for t in rows if t.state in e2e.TRAINED_STATES]
    assert len(trained) == 4
    for t in trained:
        assert t.state == TrialState.COMPLETED, (t.id, t.state, t.error)
        assert t.accuracy is not None and t.latency_ms is not None and t.reward is not None, t
        assert t.node and store.list_metrics(t.id)
    assert len({t.arch_hash for t in trained}) == 4  # no network trained twice
    e2e.assert_counters_match_rows(store, job_id)

    history = e2e.assert_history_consistent(store, job_id)
    assert all(h in history for h in a_history)  # A's tells survived, untouched
    ids = [h["suggestion_id"] for h in history]
    b_ids = {h["suggestion_id"] for h in history[len(a_history) :]}
    a_asked = {f"{name}-{i:06d}" for i in range(a_next_id)}
    # B's own asks continue A's numbering: it asked with A's state restored, not from a fresh strategy.
    assert all(int(s.rsplit("-", 1)[1]) >= a_next_id for s in b_ids - a_asked), ids
    assert sorted(ids) == [f"{name}-{i:06d}" for i in range(len(ids))]
    trained_told = [h for h in history if h["outcome"]["state"] == "completed"]
    assert len(trained_told) == 4


@pytest.mark.parametrize("strategy_name", ["compound-scaling", None], ids=["named", "kind-only"])
def test_compound_scaling_job_end_to_end_with_its_scaling_table(
    strategy_name: str | None, sqlite_store: Any, ray_session: None, e2e: Any, tmp_path: Path
) -> None:
    """``kind-only``: a scaling job that leaves ``strategy.name`` at its default; the dispatcher runs compound
    scaling all the same, so the tables must show it too."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from nas_service.settings import Settings
    from nas_service.storage import TokenScope

    store = sqlite_store
    spec = e2e.tiny_spec(
        name="scaling-e2e",
        kind="scaling",
        strategy={"settings": {"max_grid_points": 2, "include_base": True}}
        | ({"name": strategy_name} if strategy_name else {}),
        scaling={"base": [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"]], "max_phi": 2, "tolerance": 0.1,
                 "grid_step": 0.2},
        budget={"max_trials": 10, "max_concurrent": 2},
    )  # fmt: skip
    job_id = e2e.submit(store, spec)
    dispatcher, executor = e2e.ray_dispatcher(store, "scaling")
    try:
        e2e.drive(dispatcher, store, job_id, e2e.job_done(store, job_id), 400, "the scaling job to finish")
    finally:
        dispatcher.close()
        executor.shutdown()
    job = store.get_job(job_id)
    rows = e2e.trials_of(store, job_id)
    assert job.state == JobState.COMPLETED, (job.error, [(t.id, t.state, t.error) for t in rows])
    # base (phi 0) + 2 grid points (phi 1) + phi 2 with the chosen coefficients
    assert [t.state for t in rows] == [TrialState.COMPLETED] * 4, [(t.id, t.state, t.error) for t in rows]
    assert [t.params["phi"] for t in rows] == [0, 1, 1, 2]
    e2e.assert_history_consistent(store, job_id)

    token = store.create_token("alice", TokenScope.USER, name="e2e").token
    app = create_app(Settings(data_dir=tmp_path / "data"), store)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        body = client.get(f"/dashboard/api/jobs/{job_id}/scaling", headers=auth).json()
        api_response = client.get(f"/api/v1/jobs/{job_id}/scaling", headers=auth)
    assert api_response.status_code == 200, api_response.text
    report = api_response.json()
    assert report["family"] == body["rows"] and len(report["grid"]) == 3, report
    assert report["chosen"] is not None
    table = body["rows"]
    assert [r["phi"] for r in table] == [0, 1, 2], body
    assert all(r["state"] == "completed" and r["accuracy"] is not None and r["latency_ms"] for r in table), table
    chosen = {(r["alpha"], r["beta"], r["gamma"]) for r in table if r["phi"] >= 1}
    assert len(chosen) == 1  # phi 1 and 2 use the same (chosen) coefficients
    assert table[2]["macs"] > table[1]["macs"] > table[0]["macs"]
    assert body["note"] and "best step-1 reward" in body["note"]
    by_phi = {t.params["phi"]: t for t in rows if t.params["phi"] != 1 or (
        t.params["alpha"], t.params["beta"], t.params["gamma"]) in chosen}  # fmt: skip
    for r in table:
        assert r["accuracy"] == pytest.approx(by_phi[r["phi"]].accuracy)

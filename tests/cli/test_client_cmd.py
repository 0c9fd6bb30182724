"""``nas job|trials|pareto|best|export|space`` against a live controller: output, --json and exit codes."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nas_service.cli.main import app
from nas_service.jobspec import JobState
from nas_service.testing import LiveServer, seed_job, synthetic_result

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def nas(live: LiveServer) -> Any:
    """``nas(*args)`` runs the CLI against the live server (connection settings from the environment)."""

    def run(*args: str) -> Any:
        env = {"NAS_API_URL": live.url, "NAS_TOKEN": live.token, "COLUMNS": "200"}
        return runner.invoke(app, list(args), env=env)

    return run


@pytest.fixture(scope="module")
def seeded(live: LiveServer) -> Any:
    return seed_job(live.storage, 12, seed=21, name="cli-seeded", failed_every=5)


def test_job_submit_from_the_example_yaml(nas: Any) -> None:
    result = nas("job", "submit", str(EXAMPLES / "job-digits.yaml"), "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert job["state"] == "queued"
    assert job["spec"]["strategy"]["name"] == "evolution" and job["spec"]["budget"]["max_trials"] == 8

    human = nas("job", "show", str(job["id"]))
    assert human.exit_code == 0 and "digits-evolution" in human.output and "evolution" in human.output
    assert nas("job", "cancel", str(job["id"])).exit_code == 0
    resumed = nas("job", "resume", str(job["id"]), "--json")
    assert json.loads(resumed.output)["state"] == "queued"
    nas("job", "cancel", str(job["id"]))


def test_job_submit_wait_exit_code_follows_the_job(nas: Any, live: LiveServer, tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text("name: cli-wait\nspace: tiny\nbudget:\n  max_trials: 2\n")

    def finish_soon() -> None:
        import random
        import time

        storage = live.storage
        for _ in range(200):  # the job id is known once the CLI has submitted it
            jobs = storage.list_jobs(limit=50).items
            mine = [j for j in jobs if j.name == "cli-wait" and j.state == JobState.QUEUED]
            if mine:
                break
            time.sleep(0.05)
        job_id = mine[0].id
        storage.transition_job(job_id, JobState.RUNNING)
        trial = storage.create_trial(job_id, {})
        claimed = storage.claim_trial(job_id, "w")
        storage.report_trial(trial.id, claimed.attempts, synthetic_result(random.Random(0)), "k")
        storage.transition_job(job_id, JobState.FAILED, error="worker pool lost")

    thread = threading.Thread(target=finish_soon, daemon=True)
    thread.start()
    result = nas("job", "submit", str(spec), "--wait", "--json")
    thread.join(10)
    assert result.exit_code == 1, result.output
    assert "worker pool lost" in result.output


def test_listing_and_results_json(nas: Any, seeded: Any) -> None:
    listed = json.loads(nas("job", "list", "--json", "--state", "completed").output)
    assert seeded.id in {j["id"] for j in listed}

    trials = json.loads(nas("trials", str(seeded.id), "--json", "--limit", "5", "--sort", "reward").output)
    assert len(trials) == 5
    rewards = [t["reward"] for t in trials]
    assert rewards == sorted(rewards, reverse=True)

    front = json.loads(nas("pareto", str(seeded.id), "--json", "--target-ms", "1.5").output)
    assert front["target_ms"] == 1.5 and front["points"]
    best = json.loads(nas("best", str(seeded.id), "-k", "2", "--json").output)
    assert len(best["trials"]) == 2 and best["trials"][0]["trial_id"] == seeded.best_trial_id


def test_human_tables(nas: Any, seeded: Any) -> None:
    for args in (
        ("job", "list"),
        ("trials", str(seeded.id)),
        ("pareto", str(seeded.id)),
        ("best", str(seeded.id)),
    ):
        result = nas(*args)
        assert result.exit_code == 0, (args, result.output)
    assert "Pareto front of job" in nas("pareto", str(seeded.id)).output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("job", "show", "987654"), 3),
        (("pareto", "987654"), 3),
        (("export", "987654", "--format", "json"), 3),
        (("trials", "1", "--sort", "bogus"), 2),
    ],
)
def test_exit_codes(nas: Any, args: tuple[str, ...], code: int) -> None:
    result = nas(*args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output


def test_cancel_a_finished_job_is_a_server_refusal(nas: Any, seeded: Any) -> None:
    result = nas("job", "cancel", str(seeded.id))
    assert result.exit_code == 1 and "error" in result.output


def test_bad_token_is_exit_5_with_a_hint(live: LiveServer, seeded: Any) -> None:
    env = {"NAS_API_URL": live.url, "NAS_TOKEN": "nope"}
    result = runner.invoke(app, ["job", "show", str(seeded.id)], env=env)
    assert result.exit_code == 5 and "NAS_TOKEN" in result.output


def test_export_json_and_blocks(nas: Any, seeded: Any, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    result = nas("export", str(seeded.best_trial_id), "--format", "blocks", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.output)["files"]
    assert Path(files["blocks"]).read_text().count("\n") >= 3


def test_space_create_and_list(nas: Any, tmp_path: Path) -> None:
    import yaml

    from nas_service.space import tiny_space

    doc = tiny_space().model_dump(mode="json")
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(doc))
    created = nas("space", "create", str(path), "--name", "cli-space", "--json")
    assert created.exit_code == 0, created.output
    space_id = json.loads(created.output)["id"]
    listed = json.loads(nas("space", "list", "--json").output)
    assert space_id in {s["id"] for s in listed}

    doc["stages"] = []
    path.write_text(yaml.safe_dump(doc))
    bad = nas("space", "create", str(path), "--name", "cli-bad")
    assert bad.exit_code == 2 and "space" in bad.output


def test_job_watch_on_a_finished_job(nas: Any, seeded: Any) -> None:
    lines = nas("job", "watch", str(seeded.id), "--json").output.strip().splitlines()
    events = [json.loads(line) for line in lines]
    assert events[-1]["event"] == "end" and events[-1]["data"]["state"] == "completed"
    human = nas("job", "watch", str(seeded.id))
    assert human.exit_code == 0 and "completed" in human.output


def test_trial_tables_show_the_resolution(nas: Any, seeded: Any) -> None:
    trials = json.loads(nas("trials", str(seeded.id), "--json").output)
    sizes = {t["resolution"] for t in trials}
    assert sizes and sizes <= {16, 24, 32}
    for args in (("trials", str(seeded.id)), ("best", str(seeded.id), "-k", "3")):
        out = nas(*args).output
        assert " px " in out.splitlines()[0] + out.splitlines()[1] + out.splitlines()[2], out
    best = json.loads(nas("best", str(seeded.id), "-k", "3", "--json").output)
    assert all(p["resolution"] in {16, 24, 32} for p in best["trials"])


def test_job_submit_refuses_a_misfit_and_force_submits_with_notes(nas: Any, tmp_path: Path) -> None:
    spec = tmp_path / "misfit.yaml"
    spec.write_text("name: misfit\nspace: mixnet\nproxy:\n  dataset: digits\n  resolution: 16\n")
    refused = nas("job", "submit", str(spec))
    assert refused.exit_code == 2, refused.output
    assert "proxy.resolution" in refused.output and "224 px" in refused.output and "Traceback" not in refused.output
    forced = nas("job", "submit", str(spec), "--force")
    assert forced.exit_code == 0, forced.output
    assert "note: space 'mixnet' has a 1000-class head" in forced.output
    assert "note: forced:" in forced.output
    nas("job", "cancel", forced.output.split()[2])


def test_job_submit_with_a_space_file_next_to_the_job(nas: Any) -> None:
    result = nas("job", "submit", str(EXAMPLES / "job-synthetic.yaml"), "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert job["spec"]["proxy"]["dataset"] == "synthetic" and job["notes"] == []  # sized for the data: nothing to adapt
    nas("job", "cancel", str(job["id"]))


def test_a_job_that_completed_below_its_budget_says_so(nas: Any, live: LiveServer) -> None:
    import random

    from nas_service.jobspec import JobSpec

    storage = live.storage
    space = storage.create_space("admin", "short-space", _digits_body())
    job = storage.create_job("admin", space.id, JobSpec.model_validate({"name": "short", "budget": {"max_trials": 4}}))
    storage.transition_job(job.id, JobState.RUNNING)
    for i in range(3):
        trial = storage.create_trial(job.id, {"i": i})
        claimed = storage.claim_trial(job.id, "w")
        if i < 2:
            storage.report_trial(trial.id, claimed.attempts, synthetic_result(random.Random(i)), f"k{i}")
    storage.transition_job(job.id, JobState.CANCELLED)  # the running trial is cancelled with the job
    storage.transition_job(job.id, JobState.QUEUED)
    storage.transition_job(job.id, JobState.RUNNING)
    storage.transition_job(job.id, JobState.COMPLETED)
    listed = nas("job", "list")
    assert listed.exit_code == 0 and "completed short" in listed.output
    shown = nas("job", "show", str(job.id))
    assert "2 of 4 trials finished (1 trial(s) cancelled)" in shown.output, shown.output


def _digits_body() -> dict[str, Any]:
    from nas_service.space import digits_space

    return digits_space().model_dump(mode="json")


def test_job_netadapt_prints_the_steps_of_a_netadapt_job(nas: Any, live: LiveServer) -> None:
    from nas_service.testing import seed_netadapt

    result = nas("job", "submit", str(EXAMPLES / "job-netadapt.yaml"), "--json")
    assert result.exit_code == 0, result.output
    job_id = json.loads(result.output)["id"]
    seed_netadapt(live.storage, job_id)
    as_json = nas("job", "netadapt", str(job_id), "--json")
    assert as_json.exit_code == 0, as_json.output
    table = json.loads(as_json.output)
    assert table["status"] == "met" and table["steps"], table
    human = nas("job", "netadapt", str(job_id))
    assert human.exit_code == 0, human.output
    first = table["steps"][0]["chosen"]
    assert f"s{first['stage']} {first['kind']} x{first['notches']}" in human.output
    assert "met" in human.output and "blocks: " in human.output
    assert nas("job", "netadapt", "999999").exit_code == 3


def test_job_scaling_on_a_search_job_says_there_is_no_table(nas: Any, seeded: Any) -> None:
    result = nas("job", "scaling", str(seeded.id))
    assert result.exit_code == 0, result.output
    assert "not chosen yet" in result.output

"""The demo's own flow without Ray or training: a stand-in dispatcher (see ``conftest.py``) behind the real API."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nas_service.cli.demo import (
    BASE_CHOICES,
    DemoOptions,
    DemoProgress,
    base_params,
    build_spec,
    demo_space,
)
from nas_service.cli.main import app
from nas_service.jobspec import JobState
from nas_service.space import digits_space
from nas_service.storage import SQLAlchemyStorage

runner = CliRunner()


def _jobs(data_dir: Path) -> list[object]:
    storage = SQLAlchemyStorage(f"sqlite:///{data_dir / 'demo' / 'nas.db'}")
    try:
        return list(storage.list_jobs(limit=10).items)
    finally:
        storage.close()


def test_base_network_uses_the_preferred_choices() -> None:
    space = digits_space()
    params = base_params(space)
    assert params["s1.op"] == "mbconv" and params["s0.op"] == "mbconv"
    assert params["s2.width"] == BASE_CHOICES["width"] and params["s3.repeat_delta"] == 0
    assert space.canonicalize(params) == params


def test_spec_is_sized_for_a_cpu_and_evolves_half_the_budget() -> None:
    opts = DemoOptions(10, 2, "evolution", 2, 16, None, None, False, False, 300.0)
    spec = build_spec(opts, target_ms=2.5)
    assert spec.budget.max_trials == 10 and spec.budget.max_concurrent == 2
    assert spec.proxy.dataset == "digits" and spec.proxy.threads == 1 and spec.proxy.device == "cpu"
    assert spec.latency.batch_size == 1 and spec.reward.target_ms == 2.5
    assert spec.strategy.settings == {"population": 5, "sample_size": 2}
    assert spec.constraints.max_macs == 2_500_000
    assert (
        build_spec(DemoOptions(10, 2, "evolution", 2, 32, None, None, False, False, 300.0), 1.0).constraints.max_macs
        == 10_000_000
    )
    random_spec = build_spec(DemoOptions(10, 2, "random", 2, 16, None, None, False, False, 300.0), 1.0)
    assert random_spec.strategy.settings == {}


def test_space_searches_the_proxy_resolution_only() -> None:
    space = demo_space(24)
    assert space.parameters()["resolution"] == [24]
    assert space.parameters()["stem_stride"] == digits_space().parameters()["stem_stride"]


def test_progress_counts_finished_trials_and_tracks_the_best() -> None:
    display = DemoProgress(total=3, epochs=2, console=None)
    display.trial_event({"id": 1, "number": 1, "state": "running"})
    display.trial_event({"id": 2, "number": 2, "state": "running"})
    assert sorted(display.running()) == [1, 2]
    display.trial_event({"id": 1, "number": 1, "state": "completed", "accuracy": 0.9, "reward": 0.8})
    display.job_event({"best_reward": 0.8})
    assert display.running() == [2] and display.done() == 1 and display.best == 0.8
    display.trial_event({"id": 3, "number": 3, "state": "duplicate"})  # never trained: not in the budget
    assert display.done() == 1


def test_progress_takes_live_epochs_from_trial_events() -> None:
    display = DemoProgress(total=2, epochs=3, console=None)
    display.trial_event({"id": 1, "number": 1, "state": "running", "epochs_run": 0, "last_epoch": None})
    assert not display.live_epochs  # nothing says yet that events carry epochs: running trials are polled
    display.trial_event(
        {
            "id": 1,
            "number": 1,
            "state": "running",
            "epochs_run": 2,
            "accuracy": None,
            "last_epoch": {"epoch": 2, "val_accuracy": 0.75},
        }
    )
    view = display.trials[1]
    assert display.live_epochs and view.epochs == 2 and view.accuracy == 0.75
    display.trial_event({"id": 1, "number": 1, "state": "running", "epochs_run": 2, "accuracy": None})
    assert view.accuracy == 0.75  # a training trial's null final accuracy keeps its latest val accuracy
    display.epochs_seen(1, [object()])  # a late poll never moves a bar back
    assert view.epochs == 2


def test_live_epochs_replace_polling(demo_env: Path, fake_dispatcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas_service.cli.demo import command
    from nas_service.client import Client

    displays: list[DemoProgress] = []
    polls_while_live: list[int] = []

    class RecordedProgress(DemoProgress):
        def __enter__(self) -> DemoProgress:
            displays.append(self)
            return super().__enter__()

    get_trial = Client.get_trial

    def counted_get_trial(self: Client, trial_id: int, *args: Any, **kwargs: Any) -> Any:
        if displays and displays[0].live_epochs:
            polls_while_live.append(trial_id)
        return get_trial(self, trial_id, *args, **kwargs)

    monkeypatch.setattr(command, "DemoProgress", RecordedProgress)
    monkeypatch.setattr(Client, "get_trial", counted_get_trial)
    result = runner.invoke(app, ["demo", "--trials", "3", "--epochs", "2", "--strategy", "random"])
    assert result.exit_code == 0, result.output
    (display,) = displays
    assert display.live_epochs, "the event stream carries the fake trials' epoch reports"
    assert polls_while_live == []  # once events carry epochs, running trials are no longer polled


def test_demo_runs_a_job_to_the_pareto_table(demo_env: Path, fake_dispatcher: Any) -> None:
    result = runner.invoke(app, ["demo", "--trials", "3", "--epochs", "1", "--strategy", "random"])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output and "latency ms" in result.output
    assert re.search(
        r"dashboard \(served only while the demo runs\): http://127\.0\.0\.1:\d+/dashboard/jobs/1\b", result.output
    )
    assert str(demo_env / "demo" / "admin-token") in result.output
    # Run by pytest, not by a `nas` on the PATH: the hint spells a command that works from here.
    assert f"{sys.executable} -m nas_service.cli.main serve (or rerun the demo with --keep-serving)" in result.output
    assert fake_dispatcher.started and all(d.stopped for d in fake_dispatcher.started)
    (job,) = _jobs(demo_env)
    assert job.state == JobState.COMPLETED  # type: ignore[attr-defined]


def test_json_summary(demo_env: Path, fake_dispatcher: Any) -> None:
    result = runner.invoke(app, ["demo", "--trials", "2", "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["state"] == "completed" and summary["trials"]["completed"] == 2
    assert summary["pareto"] and {"accuracy", "latency_ms", "block_strings"} <= set(summary["pareto"][0])
    assert summary["dashboard_url"].endswith(f"/dashboard/jobs/{summary['job_id']}")


def test_a_dead_dispatcher_fails_the_demo_in_one_line(demo_env: Path, fake_dispatcher: Any) -> None:
    fake_dispatcher.mode = "die"
    result = runner.invoke(app, ["demo", "--trials", "2", "--epochs", "1"])
    assert result.exit_code == 1
    assert "error: the dispatcher stopped; job 1 cancelled (details in " in result.output
    assert "Traceback" not in result.output
    (job,) = _jobs(demo_env)
    assert job.state == JobState.CANCELLED  # type: ignore[attr-defined]


def test_missing_dispatcher_is_one_line(demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "workers.dispatcher", None)  # an import of it raises ImportError
    result = runner.invoke(app, ["demo", "--trials", "2"])
    assert result.exit_code == 1
    assert "error: the embedded dispatcher is not available" in result.output
    assert "Traceback" not in result.output


def test_unknown_strategy_is_a_usage_error(demo_env: Path) -> None:
    result = runner.invoke(app, ["demo", "--strategy", "nope"])
    assert result.exit_code == 2 and "unknown strategy 'nope'" in result.output


def test_reruns_add_jobs_to_the_same_demo_database(demo_env: Path, fake_dispatcher: Any) -> None:
    for expected in (1, 2):
        result = runner.invoke(app, ["demo", "--trials", "1", "--epochs", "1"])
        assert result.exit_code == 0, result.output
        assert f"/dashboard/jobs/{expected}" in result.output
    assert len(_jobs(demo_env)) == 2


def test_timeout_cancels_the_job(demo_env: Path, fake_dispatcher: Any) -> None:
    fake_dispatcher.mode = "idle"  # never claims the job
    result = runner.invoke(app, ["demo", "--trials", "2", "--timeout", "10"])
    assert result.exit_code == 1
    assert "error: the demo ran past its --timeout; job 1 cancelled" in result.output
    (job,) = _jobs(demo_env)
    assert job.state == JobState.CANCELLED  # type: ignore[attr-defined]


def test_a_busy_port_fails_fast(demo_env: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["demo", "--port", str(port)])
    assert result.exit_code == 1 and f"port {port} on 127.0.0.1 is in use" in result.output

"""The SDK against the real app: spaces, jobs, paging iterators, typed errors, results, events and wait()."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from nas_service.client import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    NotFoundError,
    ValidationError,
    WaitTimeout,
)
from nas_service.jobspec import JobState, TrialState
from nas_service.testing import LiveServer, seed_job, synthetic_result

SPACE_YAML = """
name: sdk-tiny
description: two stages, for SDK tests
"""


def tiny_space_doc(name: str) -> dict[str, Any]:
    from nas_service.space import tiny_space

    doc = tiny_space().model_dump(mode="json")
    doc["name"] = name
    return doc


@pytest.fixture(scope="module")
def seeded(live: LiveServer) -> Any:
    return seed_job(live.storage, 30, seed=11, name="sdk-seeded", failed_every=7)


# ---------------------------------------------------------------------- spaces
def test_spaces_create_get_list_archive_validate(client: Client) -> None:
    import yaml

    created = [client.create_space(tiny_space_doc(f"sdk-space-{i}")) for i in range(2)]
    from_yaml = client.create_space(yaml.safe_dump(tiny_space_doc("ignored")), name="sdk-space-yaml")
    assert from_yaml.name == "sdk-space-yaml"
    assert client.get_space(created[0].id).space["name"] == "sdk-space-0"

    listed = {s.id for s in client.list_spaces(page_size=1)}  # one request per space: paging is transparent
    assert {s.id for s in created} | {from_yaml.id} <= listed

    archived = client.archive_space(created[1].id)
    assert archived.archived
    active = {s.id for s in client.list_spaces()}
    assert created[1].id not in active and created[1].id in {s.id for s in client.list_spaces(include_archived=True)}

    assert client.validate_space(tiny_space_doc("ok")).valid
    bad = tiny_space_doc("bad")
    bad["stages"] = []
    report = client.validate_space(bad)
    assert not report.valid and report.errors


def test_invalid_space_is_a_validation_error_naming_the_field(client: Client) -> None:
    bad = tiny_space_doc("sdk-bad")
    bad["stages"] = []
    with pytest.raises(ValidationError) as info:
        client.create_space(bad)
    assert info.value.status == 422
    assert info.value.field and info.value.field.startswith("space")


# ---------------------------------------------------------------------- typed errors
def test_typed_errors(client: Client, live: LiveServer, seeded: Any) -> None:
    with pytest.raises(NotFoundError) as nf:
        client.get_job(987_654)
    assert nf.value.status == 404 and nf.value.code == "not_found"

    with pytest.raises(ValidationError) as ve:  # refused locally, before any request, naming the field
        client.submit_job({"budget": {"max_trials": 0}}, space="digits")
    assert ve.value.field == "budget.max_trials"

    with pytest.raises(ConflictError):
        client.cancel_job(seeded.id)  # already completed

    with Client(url=live.url, token="wrong", retries=0) as bad, pytest.raises(AuthError) as ae:
        bad.get_job(seeded.id)
    assert ae.value.status == 401


def test_server_side_validation_is_422_with_field(client: Client) -> None:
    with pytest.raises((ValidationError, NotFoundError)) as info:
        client.submit_job({"name": "x"}, space_id=999_999)
    assert info.value.status in (404, 422)


# ---------------------------------------------------------------------- jobs
def test_submit_list_cancel_resume(client: Client) -> None:
    job = client.submit_job({"name": "sdk-submitted", "budget": {"max_trials": 4}}, space="tiny")
    assert job.state == JobState.QUEUED and job.spec.budget.max_trials == 4
    assert job.id in {j.id for j in client.list_jobs(state="queued", page_size=1)}

    assert job.cancel().state == JobState.CANCELLED
    assert client.get_job(job.id).state == JobState.CANCELLED
    assert job.resume().state == JobState.QUEUED
    client.cancel_job(job.id)


def test_trials_iterator_pages_sorts_and_filters(client: Client, seeded: Any) -> None:
    trials = list(client.trials(seeded.id, page_size=7))
    assert [t.number for t in trials] == sorted(t.number for t in trials)
    assert len(trials) == 30 and len({t.id for t in trials}) == 30

    failed = list(client.trials(seeded.id, state="failed", page_size=2))
    assert failed and all(t.state == TrialState.FAILED for t in failed)
    assert len(failed) == 30 - seeded.trials_completed

    by_reward = [t.reward for t in client.trials(seeded.id, sort="reward", state="completed", page_size=5)]
    assert by_reward == sorted(by_reward, reverse=True)


def test_pareto_best_and_trial_detail(client: Client, live: LiveServer, seeded: Any) -> None:
    front = client.pareto(seeded.id)
    assert [p.trial_id for p in front.points] == [t.id for t in live.storage.pareto(seeded.id)]
    lat = [p.latency_ms for p in front.points]
    acc = [p.accuracy for p in front.points]
    assert lat == sorted(lat) and acc == sorted(acc)  # along the front, slower means more accurate
    assert front.hypervolume > 0

    best = client.best(seeded.id, k=3)
    assert len(best.trials) == 3
    assert best.trials[0].trial_id == seeded.best_trial_id
    rescored = client.best(seeded.id, k=3, target_ms=0.5, alpha=-0.5, beta=-1.0)
    assert (rescored.target_ms, rescored.alpha, rescored.beta) == (0.5, -0.5, -1.0)
    assert [t.reward for t in rescored.trials] == sorted((t.reward for t in rescored.trials), reverse=True)

    detail = client.get_trial(best.trials[0].trial_id)
    assert [e.epoch for e in detail.epochs] == [0, 1, 2]
    assert detail.latency is not None and len(detail.latency.samples_ms) == detail.latency.samples


# ---------------------------------------------------------------------- events and wait()
def drive(live: LiveServer, job_id: int, n: int, pause: float = 0.05, fail: bool = False) -> threading.Thread:
    """Run a job through the storage from a thread, as a dispatcher and its workers would."""
    import random

    def run() -> None:
        rng = random.Random(job_id)
        storage = live.storage
        storage.transition_job(job_id, JobState.RUNNING)
        for i in range(n):
            time.sleep(pause)
            trial = storage.create_trial(job_id, {"i": i})
            claimed = storage.claim_trial(job_id, "test-worker")
            storage.report_trial(trial.id, claimed.attempts, synthetic_result(rng), f"drive-{trial.id}")
        storage.transition_job(job_id, JobState.FAILED if fail else JobState.COMPLETED, error="boom" if fail else None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_follows_the_stream_to_the_end(client: Client, live: LiveServer) -> None:
    job = client.submit_job({"name": "sdk-wait", "budget": {"max_trials": 5}}, space="tiny")
    thread = drive(live, job.id, 5)
    final = job.wait(progress=True, timeout=60)
    thread.join(10)
    assert final.state == JobState.COMPLETED
    assert final.counters.completed == 5
    assert final.best_reward is not None
    assert job.info is final


def test_wait_falls_back_to_polling_when_the_stream_fails(
    client: Client, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise httpx.ConnectError("stream dropped")
        yield  # pragma: no cover

    monkeypatch.setattr(client, "_stream_once", broken)
    job = client.submit_job({"name": "sdk-poll", "budget": {"max_trials": 2}}, space="tiny")
    thread = drive(live, job.id, 2, fail=True)
    final = job.wait(progress=False, timeout=60, poll_interval=0.05)
    thread.join(10)
    assert final.state == JobState.FAILED and final.error == "boom"


def test_wait_timeout(client: Client) -> None:
    job = client.submit_job({"name": "sdk-timeout", "budget": {"max_trials": 2}}, space="tiny")
    with pytest.raises(WaitTimeout):
        job.wait(progress=False, timeout=0.3, poll_interval=0.05)
    client.cancel_job(job.id)


def test_events_stream_and_resume_from_last_event_id(client: Client, live: LiveServer) -> None:
    job = client.submit_job({"name": "sdk-events", "budget": {"max_trials": 3}}, space="tiny")
    thread = drive(live, job.id, 3, pause=0.02)
    thread.join(10)
    events = list(client.events(job.id))
    kinds = [e.event for e in events]
    assert kinds.count("trial") >= 3 and "job" in kinds and kinds[-1] == "end"
    assert events[-1].json()["state"] == "completed"
    job_events = [e for e in events if e.event == "job"]
    assert job_events[-1].json()["counters"]["completed"] == 3

    # Reconnecting after the last job event only gets what came after it.
    again = list(client.events(job.id, last_event_id=job_events[-1].id))
    assert [e.event for e in again] == ["end"]


# ---------------------------------------------------------------------- async client
def test_async_client_has_the_same_surface(live: LiveServer, seeded: Any) -> None:
    async def main() -> None:
        async with AsyncClient(url=live.url, token=live.token) as nas:
            job = await nas.get_job(seeded.id)
            assert job.state == JobState.COMPLETED
            numbers = [t.number async for t in nas.trials(seeded.id, page_size=8)]
            assert len(numbers) == 30
            front = await nas.pareto(seeded.id)
            assert front.points
            with pytest.raises(NotFoundError):
                await nas.get_trial(987_654)
            submitted = await nas.submit_job({"name": "sdk-async", "budget": {"max_trials": 2}}, space="tiny")
            thread = drive(live, submitted.id, 2)
            final = await submitted.wait(progress=False, timeout=60)
            thread.join(10)
            assert final.state == JobState.COMPLETED
            assert [j.id async for j in nas.list_jobs(state="completed")]

    asyncio.run(main())

"""``GET /jobs/{id}/events``: server-sent events that follow a job and end with it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from api.testing import Api
from nas_service.jobspec import EpochReport, JobState
from nas_service.storage.testing import make_result, run_trial


def _events(text: str) -> list[tuple[str | None, str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return out


def _read(api: Api, job_id: int, last_event_id: str | None = None) -> list[tuple[str | None, str, dict]]:
    headers = {**api.alice, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        return _events(r.read().decode())


def test_stream_of_a_finished_job_and_last_event_id(api: Api) -> None:
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)
    ids = [run_trial(api.storage, job["id"], 0.5 + i / 10, 2.0 + i) for i in range(3)]
    api.storage.transition_job(job["id"], JobState.COMPLETED)
    events = _read(api, job["id"])
    kinds = [e[1] for e in events]
    assert kinds == ["trial", "trial", "trial", "job", "end"]
    assert [e[2]["id"] for e in events[:3]] == ids
    last_id, _, job_body = events[3]
    assert job_body["state"] == "completed" and job_body["counters"]["completed"] == 3
    assert [e[1] for e in _read(api, job["id"], last_event_id=last_id)] == ["end"]


def test_live_stream_follows_changes_until_the_job_ends(api: Api) -> None:
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)

    def drive() -> None:
        time.sleep(0.2)
        run_trial(api.storage, job["id"], 0.8, 3.0)
        time.sleep(0.2)
        api.storage.transition_job(job["id"], JobState.COMPLETED)

    driver = threading.Thread(target=drive)
    driver.start()
    events = _read(api, job["id"])
    driver.join()
    kinds = [e[1] for e in events]
    assert kinds[-1] == "end" and "trial" in kinds and "job" in kinds  # timing decides how many job events
    assert events[-2][2]["state"] == "completed"
    seqs = [int(str(e[0])) for e in events if e[1] == "job"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_epoch_reports_stream_live_progress_and_duplicates_send_nothing(api: Api) -> None:
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)
    trial = api.storage.create_trial(job["id"], {})
    api.storage.claim_trial(job["id"], "w")
    last_id = _read_until_job(api, job["id"])
    assert api.storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.5))
    assert api.storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.91, train_loss=0.3))
    events = _read_until_job(api, job["id"], last_id, keep=True)
    trials = [body for _, kind, body in events if kind == "trial"]
    assert len(trials) == 1 and trials[0]["id"] == trial.id  # both epochs in one poll: the trial once
    assert trials[0]["state"] == "running" and trials[0]["epochs_run"] == 2
    assert trials[0]["last_epoch"]["epoch"] == 2 and trials[0]["last_epoch"]["val_accuracy"] == 0.91
    job_body = events[-1][2]
    assert job_body["spec"]["proxy"]["epochs"] == 3  # "epoch 2/3, val acc 0.91"
    seq = events[-1][0]

    # a duplicate epoch: no new event; the next change (a final report) is the next thing sent
    assert not api.storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.91))
    assert api.storage.get_job(job["id"]).event_seq == int(seq)
    api.storage.report_trial(trial.id, 1, make_result(0.9, 3.0), "final")
    api.storage.transition_job(job["id"], JobState.COMPLETED)
    after = _read(api, job["id"], last_event_id=seq)
    assert [e[1] for e in after] == ["trial", "job", "end"]
    assert after[0][2]["state"] == "completed" and after[0][2]["last_epoch"] is None


def _read_until_job(api: Api, job_id: int, last_event_id: str | None = None, keep: bool = False) -> Any:
    """Events of a running job up to its first ``job`` event (the stream of a running job never ends)."""
    headers = {**api.alice, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    text = ""
    with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=headers) as r:
        for chunk in r.iter_text():
            text += chunk
            if "event: job" in text and text.endswith("\n\n"):
                break
    events = _events(text)
    return events if keep else events[-1][0]


def test_changes_while_a_client_pages_are_all_seen(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than a page of trials change between two pages of one round: none is skipped, each ends current."""
    import api.routes.results as results

    monkeypatch.setattr(results, "_SSE_PAGE", 4)
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)
    trials = [api.storage.create_trial(job["id"], {"i": i}) for i in range(12)]
    for _ in trials:
        api.storage.claim_trial(job["id"], "w")
    real = api.storage.list_changed_trials
    pages: list[list[int]] = []

    def page_then_change(*args: Any, **kwargs: Any) -> Any:
        page = real(*args, **kwargs)
        pages.append([t.id for t in page])
        if len(pages) == 1:  # the client holds page 1 of 3: nine trials (over two pages' worth) change now
            for t in trials[:9]:
                assert api.storage.report_epoch(t.id, EpochReport(epoch=1, val_accuracy=0.5))
            for t in trials[9:11]:
                api.storage.report_trial(t.id, 1, make_result(0.7, 2.0), f"final-{t.id}")
            api.storage.transition_job(job["id"], JobState.COMPLETED)
        return page

    monkeypatch.setattr(api.storage, "list_changed_trials", page_then_change)
    events = _read(api, job["id"])
    last_seen = {body["id"]: body for _, kind, body in events if kind == "trial"}
    assert set(last_seen) == {t.id for t in trials}, pages  # every trial reached the client
    for t in trials:  # and what the client last saw of each is its current state
        stored = api.storage.get_trial(t.id)
        assert (last_seen[t.id]["state"], last_seen[t.id]["epochs_run"]) == (stored.state.value, stored.epochs_run)
    assert [e[1] for e in events][-2:] == ["job", "end"]

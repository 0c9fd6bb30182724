"""``GET /jobs/{id}/events``: server-sent events that follow a job and end with it."""

from __future__ import annotations

import json
import threading
import time

from api.testing import Api
from nas_service.jobspec import JobState
from nas_service.storage.testing import run_trial


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
    seqs = [int(e[0]) for e in events if e[1] == "job"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

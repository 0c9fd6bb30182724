"""Lease fencing in the storage (both backends): writes made under a lease epoch are refused once it moved."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from nas_service.jobspec import EpochReport, JobState, TrialResult, TrialState
from nas_service.storage import BaseStorage, ConflictError, JobRecord, LeaseLostError, fenced

MakeJob = Callable[..., JobRecord]


def _take_over(storage: BaseStorage, job_id: int, old_epoch: int) -> int:
    """Let the first claim lapse and a second dispatcher claim the job; returns the new epoch."""
    time.sleep(0.15)
    second = storage.claim_job("d2", lease_s=300)
    assert second is not None and second.id == job_id
    assert second.lease_epoch == old_epoch + 1
    return second.lease_epoch


def test_every_dispatcher_write_is_refused_once_the_lease_moved(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    first = storage.claim_job("d1", lease_s=0.1)
    assert first is not None
    with fenced(job.id, first.lease_epoch):  # current lease: writes go through
        trial = storage.create_trial(job.id, {"a": 1})
        claimed = storage.claim_trial(job.id, "d1")
        assert claimed is not None and claimed.id == trial.id
        storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.5), attempt=1)
        storage.save_strategy_state(job.id, {"v": 1})
        storage.create_trial(job.id, {"a": 2})
    new_epoch = _take_over(storage, job.id, first.lease_epoch)

    done = TrialResult(state=TrialState.COMPLETED, accuracy=0.9, epochs_run=2)
    lost = TrialResult(state=TrialState.FAILED, error="lost", epochs_run=1)
    with fenced(job.id, first.lease_epoch):
        refused: list[Callable[[], object]] = [
            lambda: storage.create_trial(job.id, {"a": 3}),
            lambda: storage.claim_trial(job.id, "d1"),
            lambda: storage.start_trial(trial.id, 1, "w", "n", None),
            lambda: storage.heartbeat(trial.id, 1),
            lambda: storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.6), attempt=1),
            lambda: storage.report_trial(trial.id, 1, lost, "lost:1"),
            lambda: storage.report_trial(trial.id, 1, done, "k1"),
            lambda: storage.save_strategy_state(job.id, {"v": 2}),
            lambda: storage.transition_job(job.id, JobState.FAILED, error="old owner"),
        ]
        for write in refused:
            with pytest.raises(LeaseLostError):
                write()
        with pytest.raises(ConflictError):  # claimed by d2 now (LeaseLostError is a ConflictError too)
            storage.renew_lease(job.id, "d1", 300)
        assert storage.get_job(job.id).state == JobState.RUNNING  # reads are not fenced

    # Nothing of the refused writes is visible; the new owner's writes go through.
    assert storage.get_job(job.id).state == JobState.RUNNING
    assert storage.get_job(job.id).claimed_by == "d2"
    assert storage.load_strategy_state(job.id) == {"v": 1}
    row = storage.get_trial(trial.id)
    assert row.state == TrialState.RUNNING and row.attempts == 1 and row.epochs_run == 1
    assert storage.list_trials(job.id, limit=10).total == 2
    assert [m.epoch for m in storage.list_metrics(trial.id)] == [1]
    with fenced(job.id, new_epoch):
        storage.report_trial(trial.id, 1, done, "k2")
        storage.save_strategy_state(job.id, {"v": 3})
    assert storage.get_trial(trial.id).state == TrialState.COMPLETED


def test_without_a_fence_nothing_changes(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    first = storage.claim_job("d1", lease_s=0.1)
    assert first is not None
    _take_over(storage, job.id, first.lease_epoch)
    with fenced(job.id, None):  # no epoch: the API's writes, and writes outside any claim
        storage.create_trial(job.id, {"a": 1})
    storage.transition_job(job.id, JobState.CANCELLED)


def test_the_fence_is_per_thread(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    first = storage.claim_job("d1", lease_s=0.1)
    assert first is not None
    _take_over(storage, job.id, first.lease_epoch)
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            storage.create_trial(job.id, {"a": 2})  # the API in the same process: not fenced
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    with fenced(job.id, first.lease_epoch):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert errors == []

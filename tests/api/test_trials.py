"""``GET /trials/{id}`` and ``GET /jobs/{id}/trials``: live progress (``last_epoch``) agrees with the event stream."""

from __future__ import annotations

from api.testing import Api
from nas_service.jobspec import EpochReport, JobState
from nas_service.storage.testing import make_result


def test_last_epoch_of_training_trials_in_rest_as_in_the_stream(api: Api) -> None:
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)
    trial = api.storage.create_trial(job["id"], {})
    queued = api.storage.create_trial(job["id"], {})
    api.storage.claim_trial(job["id"], "w")
    url = f"/api/v1/trials/{trial.id}"
    assert api.client.get(url, headers=api.alice).json()["last_epoch"] is None  # running, no epoch yet
    api.storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.5))
    api.storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.91, train_loss=0.3))

    detail = api.client.get(url, headers=api.alice).json()
    assert detail["state"] == "running" and detail["epochs_run"] == 2
    assert detail["last_epoch"] == {
        "epoch": 2,
        "val_accuracy": 0.91,
        "train_loss": 0.3,
        "elapsed_s": None,
        "attempt": 1,
    }
    assert [e["epoch"] for e in detail["epochs"]] == [1, 2]
    listed = api.client.get(f"/api/v1/jobs/{job['id']}/trials", headers=api.alice).json()["items"]
    by_id = {t["id"]: t for t in listed}
    assert by_id[trial.id]["last_epoch"] == detail["last_epoch"] and by_id[queued.id]["last_epoch"] is None

    # stale still trains (its worker may only be slow); a retry starts a new curve from epoch 1
    api.storage.mark_stale_trials(older_than_s=-1)
    assert api.client.get(url, headers=api.alice).json()["last_epoch"]["epoch"] == 2
    api.storage.requeue_trial(trial.id)
    requeued = api.client.get(url, headers=api.alice).json()
    assert requeued["state"] == "queued" and requeued["last_epoch"] is None and requeued["epochs_run"] == 0
    again = api.storage.claim_trial(job["id"], "w2")
    assert again is not None and again.id == trial.id and again.attempts == 2
    api.storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.6))
    retried = api.client.get(url, headers=api.alice).json()
    assert retried["last_epoch"]["epoch"] == 1 and retried["last_epoch"]["attempt"] == 2
    assert [(e["attempt"], e["epoch"]) for e in retried["epochs"]] == [(2, 1)]
    listed = api.client.get(f"/api/v1/jobs/{job['id']}/trials?state=running", headers=api.alice).json()["items"]
    assert [t["last_epoch"]["val_accuracy"] for t in listed] == [0.6]

    # a finished trial shows its curve, not live progress
    api.storage.report_trial(trial.id, 2, make_result(0.9, 3.0), "final")
    done = api.client.get(url, headers=api.alice).json()
    assert done["state"] == "completed" and done["last_epoch"] is None and len(done["epochs"]) == 1

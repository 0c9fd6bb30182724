"""``list_changed_trials``: keyset pages over ``(updated_seq, id)``, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Callable

from nas_service.jobspec import EpochReport
from nas_service.storage import BaseStorage, JobRecord
from nas_service.storage.testing import make_arch, make_result


def test_pages_with_interleaved_changes_miss_nothing(storage: BaseStorage, make_job: Callable[..., JobRecord]) -> None:
    job = make_job()
    trials = [storage.create_trial(job.id, {"i": i}, architecture=make_arch(8 + i)) for i in range(10)]
    for _ in trials:
        storage.claim_trial(job.id, "w")
    seen: dict[int, int] = {}  # trial id -> the updated_seq it was last seen with
    cursor = 0
    for round_no in range(3):
        upto = storage.get_job(job.id).event_seq
        after: tuple[int, int | None] = (cursor, None)
        while page := storage.list_changed_trials(job.id, after[0], upto, limit=3, after_id=after[1]):
            assert [(t.updated_seq, t.id) for t in page] == sorted((t.updated_seq, t.id) for t in page)
            assert all(cursor < t.updated_seq <= upto for t in page)
            assert all(t.id not in seen or seen[t.id] < t.updated_seq for t in page)  # nothing sent twice as is
            seen.update({t.id: t.updated_seq for t in page})
            after = (page[-1].updated_seq, page[-1].id)
            if round_no == 0 and len(seen) == 3:  # change five trials, some already sent, some not yet
                for t in trials[1:6]:
                    storage.report_epoch(t.id, EpochReport(epoch=1, val_accuracy=0.4))
        cursor = upto
    current = {t.id: t.updated_seq for t in storage.list_trials(job.id, limit=100).items}
    assert seen == current  # every trial, each at its latest change
    storage.report_trial(trials[0].id, 1, make_result(0.9, 1.0), "k")
    later = storage.list_changed_trials(job.id, cursor, storage.get_job(job.id).event_seq)
    assert [t.id for t in later] == [trials[0].id]

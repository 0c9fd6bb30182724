"""Concurrent claimers with separate engines (as separate controller replicas would have) never share work."""

from __future__ import annotations

import threading
from collections.abc import Callable

from nas_service.jobspec import JobSpec
from nas_service.storage import JobRecord, SQLAlchemyStorage, TrialRecord


def _race(url: str, work: Callable[[SQLAlchemyStorage, str], object | None], claimers: int = 3) -> list[list[int]]:
    """Run ``work`` in a loop in ``claimers`` threads, each with its own engine, until it returns ``None``."""
    stores = [SQLAlchemyStorage(url) for _ in range(claimers)]
    results: list[list[int]] = [[] for _ in range(claimers)]
    barrier = threading.Barrier(claimers)
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        try:
            barrier.wait()
            while (item := work(stores[i], f"claimer-{i}")) is not None:
                results[i].append(item.id)  # type: ignore[attr-defined]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for store in stores:
        store.close()
    assert not errors, errors
    return results


def test_concurrent_claim_job(storage: SQLAlchemyStorage) -> None:
    space = storage.create_space("alice", "s", {})
    jobs = [storage.create_job("alice", space.id, JobSpec(name=f"j{i}")) for i in range(12)]

    def claim(store: SQLAlchemyStorage, me: str) -> JobRecord | None:
        return store.claim_job(me, lease_s=600)

    claimed = [j for per in _race(storage.url, claim) for j in per]
    assert sorted(claimed) == sorted(j.id for j in jobs)  # each job exactly once
    assert {storage.get_job(j.id).claimed_by for j in jobs} <= {"claimer-0", "claimer-1", "claimer-2"}


def test_concurrent_claim_trial(storage: SQLAlchemyStorage) -> None:
    space = storage.create_space("alice", "s", {})
    job = storage.create_job("alice", space.id, JobSpec())
    trials = [storage.create_trial(job.id, {"i": i}) for i in range(15)]

    def claim(store: SQLAlchemyStorage, me: str) -> TrialRecord | None:
        return store.claim_trial(job.id, me)

    claimed = [t for per in _race(storage.url, claim) for t in per]
    assert sorted(claimed) == [t.id for t in trials]
    assert all(storage.get_trial(t.id).attempts == 1 for t in trials)


def test_concurrent_duplicate_reports_count_once(storage: SQLAlchemyStorage) -> None:
    import random

    from nas_service.pareto import pareto_front
    from nas_service.storage.testing import make_result

    space = storage.create_space("alice", "s", {})
    job = storage.create_job("alice", space.id, JobSpec())
    rng = random.Random(5)
    points = {}
    for _ in range(12):
        trial = storage.create_trial(job.id, {})
        storage.claim_trial(job.id, "w")
        points[trial.id] = (round(rng.uniform(0.3, 0.9), 3), round(rng.uniform(1, 9), 2))
    pending = {i: list(points) for i in range(3)}  # every claimer reports every trial, with the same keys

    def report(store: SQLAlchemyStorage, me: str) -> TrialRecord | None:
        queue = pending[int(me.rsplit("-", 1)[1])]
        if not queue:
            return None
        trial_id = queue.pop()
        return store.report_trial(trial_id, 1, make_result(*points[trial_id]), f"key-{trial_id}")

    _race(storage.url, report)
    final = storage.get_job(job.id)
    assert final.trials_completed == 12
    ids = list(points)
    assert {t.id for t in storage.pareto(job.id)} == {ids[i] for i in pareto_front([points[i] for i in ids])}


def test_concurrent_space_versions_and_owners(storage: SQLAlchemyStorage) -> None:
    made: list[int] = []

    def create(store: SQLAlchemyStorage, me: str) -> object | None:
        if len([v for v in made if v]) >= 9:
            return None
        record = store.create_space("new-owner", "same-name", {"by": me})
        made.append(record.version)
        return record

    _race(storage.url, create)
    versions = sorted(s.version for s in storage.list_spaces(owner="new-owner", limit=100).items)
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 9

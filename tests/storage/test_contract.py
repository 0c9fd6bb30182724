"""The storage contract suite: every test runs on SQLite and on Postgres (``storage`` is parametrized)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from nas_service.jobspec import (
    EpochReport,
    JobSpec,
    JobState,
    LatencyConfig,
    LatencyMeasurement,
    RewardConfig,
    TrialState,
)
from nas_service.orchestration.latency_cache import latency_cache_key
from nas_service.reward import mnasnet_reward
from nas_service.storage import (
    TRIAL_POINT_COLUMNS,
    BaseStorage,
    ConflictError,
    IntegrityError,
    JobRecord,
    NotFoundError,
    TokenScope,
)
from nas_service.storage.testing import make_arch, make_result, run_trial

MakeJob = Callable[..., JobRecord]


def test_space_versions_archive_and_immutability(storage: BaseStorage, make_job: MakeJob) -> None:
    a1 = storage.create_space("alice", "mnas", {"v": 1}, 3.5)
    a2 = storage.create_space("alice", "mnas", {"v": 2})
    b1 = storage.create_space("bob", "mnas", {"v": 1})
    assert (a1.version, a2.version, b1.version) == (1, 2, 1)
    assert storage.update_space(a2.id, {"v": 3}).body == {"v": 3}
    job = storage.create_job("alice", a1.id, JobSpec())
    with pytest.raises(ConflictError, match="immutable"):
        storage.update_space(a1.id, {"v": 9})
    assert job.space_id == a1.id
    page = storage.list_spaces(owner="alice", limit=1)
    assert page.total == 2 and len(page.items) == 1 and page.items[0].id == a2.id
    assert storage.archive_space(a2.id).archived
    assert storage.list_spaces(owner="alice", include_archived=False).total == 1
    with pytest.raises(ConflictError, match="archived"):
        storage.create_job("alice", a2.id, job.spec)
    with pytest.raises(NotFoundError):
        storage.get_space(10_000)
    assert storage.list_spaces(owner="nobody").total == 0


def test_a_waiting_jobs_note_is_set_and_cleared_without_moving_it(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job(name="blocked")
    running = storage.transition_job(job.id, JobState.RUNNING)
    assert storage.set_job_note(job.id, "blocked: no node\x00 here") is True
    noted = storage.get_job(job.id)
    assert noted.state == JobState.RUNNING and noted.error == "blocked: no node\ufffd here"
    assert noted.event_seq > running.event_seq  # the dashboard's stream sees it
    assert storage.set_job_note(job.id, None) is True and storage.get_job(job.id).error is None
    storage.transition_job(job.id, JobState.FAILED, error="the reason")
    assert storage.set_job_note(job.id, "late") is False and storage.get_job(job.id).error == "the reason"
    with pytest.raises(NotFoundError):
        storage.set_job_note(99_999, "x")


def test_job_transitions_and_cancel_cascade(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job(name="j1")
    assert job.state == JobState.QUEUED and job.spec.name == "j1"
    with pytest.raises(ConflictError, match="from queued to completed"):
        storage.transition_job(job.id, JobState.COMPLETED)
    running = storage.transition_job(job.id, JobState.RUNNING, expected_from=JobState.QUEUED)
    assert running.started_at is not None and running.event_seq > job.event_seq
    with pytest.raises(ConflictError, match="from running to running"):
        storage.transition_job(job.id, JobState.RUNNING, expected_from=[JobState.QUEUED])
    queued = storage.create_trial(job.id, {"a": 1})
    storage.create_trial(job.id, {"a": 2})
    storage.claim_trial(job.id, "w")
    cancelled = storage.transition_job(job.id, JobState.CANCELLED)
    assert cancelled.finished_at is not None
    states = {t.state for t in storage.list_trials(job.id).items}
    assert states == {TrialState.CANCELLED}
    with pytest.raises(ConflictError):
        storage.create_trial(job.id, {"a": 3})
    resumed = storage.transition_job(job.id, JobState.QUEUED)
    assert resumed.state == JobState.QUEUED and resumed.finished_at is None
    assert storage.get_trial(queued.id).state == TrialState.CANCELLED
    with pytest.raises(NotFoundError):
        storage.transition_job(99_999, JobState.RUNNING)
    assert storage.list_jobs(states=[JobState.QUEUED]).total == 1
    assert storage.list_jobs(owner="bob").total == 0
    assert storage.count_jobs_by_state()[JobState.QUEUED] == 1


def test_claim_job_lease(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    claimed = storage.claim_job("d1", lease_s=300)
    assert claimed is not None and claimed.id == job.id and claimed.state == JobState.RUNNING
    assert storage.claim_job("d2", lease_s=300) is None
    with pytest.raises(ConflictError):
        storage.renew_lease(job.id, "d2", 300)
    storage.renew_lease(job.id, "d1", 0)  # lease now expired: another dispatcher may take over
    taken = storage.claim_job("d2", lease_s=300)
    assert taken is not None and taken.claimed_by == "d2" and taken.started_at == claimed.started_at
    storage.release_job(job.id, "d2")
    assert storage.get_job(job.id).claimed_by is None


def test_trial_numbers_claims_and_idempotent_reports(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    arch = make_arch()
    t1 = storage.create_trial(job.id, {"k": 1}, arch, params_count=10)
    t2 = storage.create_trial(job.id, {"k": 2})
    assert (t1.number, t2.number) == (1, 2)
    assert t1.arch_hash == arch.arch_hash() and t1.block_strings == arch.block_strings()
    claimed = storage.claim_trial(job.id, "w1")
    assert claimed is not None and claimed.id == t1.id and claimed.attempts == 1
    started = storage.start_trial(t1.id, 1, "w1", "node-a", "cpu")
    assert started.node == "node-a" and started.state == TrialState.RUNNING
    with pytest.raises(ConflictError, match="attempt 2"):
        storage.start_trial(t1.id, 2, "w1", None, None)
    assert storage.report_epoch(t1.id, EpochReport(epoch=0, val_accuracy=0.4)) is True
    assert storage.report_epoch(t1.id, EpochReport(epoch=0, val_accuracy=0.4)) is False
    storage.report_epoch(t1.id, EpochReport(epoch=1, val_accuracy=0.6, train_loss=0.9))
    assert [m.epoch for m in storage.list_metrics(t1.id)] == [0, 1]
    with pytest.raises(ConflictError, match="attempt 3"):
        storage.report_trial(t1.id, 3, make_result(0.8, 4.0), "key-1")
    done = storage.report_trial(t1.id, 1, make_result(0.8, 4.0), "key-1")
    again = storage.report_trial(t1.id, 1, make_result(0.8, 4.0), "key-1")
    assert done == again and done.state == TrialState.COMPLETED and done.reward is not None
    with pytest.raises(ConflictError, match="already completed"):
        storage.report_trial(t1.id, 1, make_result(0.9, 3.0), "key-2")
    job = storage.get_job(job.id)
    assert (job.trials_total, job.trials_completed, job.best_trial_id) == (2, 1, t1.id)
    assert storage.find_completed_trial(job.id, arch.arch_hash()) == storage.get_trial(t1.id)
    assert storage.find_completed_trial(job.id, "nope") is None
    assert storage.get_trials([t2.id, t1.id, 12345])[0].id == t2.id


def test_suggestion_id_is_stored_with_the_trial_and_unique_per_job(storage: BaseStorage, make_job: MakeJob) -> None:
    job, other = make_job(), make_job()
    first = storage.create_trial(job.id, {"a": 1}, suggestion_id="random-000000", suggestion_memo={"g": 2})
    assert (first.suggestion_id, first.suggestion_memo) == ("random-000000", {"g": 2})
    assert storage.get_trial(first.id).suggestion_id == "random-000000"
    assert storage.create_trial(other.id, {}, suggestion_id="random-000000").suggestion_id == "random-000000"
    assert storage.create_trial(job.id, {}).suggestion_id is None  # trials without one (API, tests) coexist
    assert storage.create_trial(job.id, {}).suggestion_id is None
    with pytest.raises(IntegrityError):  # one trial per suggestion: a replayed ask cannot make a second one
        storage.create_trial(job.id, {"a": 1}, suggestion_id="random-000000")
    assert storage.get_job(job.id).trials_total == 3  # the refused create left nothing behind


def test_a_trial_created_claimed_runs_attempt_one(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    trial = storage.create_trial(job.id, {}, suggestion_id="s-000000", claimer="d1")
    assert (trial.state, trial.attempts, trial.worker) == (TrialState.RUNNING, 1, "d1")
    assert trial.started_at is not None and trial.heartbeat_at is not None
    assert storage.claim_trial(job.id, "d2") is None  # nothing queued: it is already running
    stored = storage.report_trial(trial.id, 1, make_result(0.5, 2.0), "k")
    assert stored.state == TrialState.COMPLETED and storage.get_job(job.id).trials_completed == 1
    rejected = storage.create_trial(job.id, {}, state=TrialState.REJECTED, claimer="d1")
    assert (rejected.state, rejected.attempts) == (TrialState.REJECTED, 0)  # only queued trials are claimed


def test_every_claim_bumps_the_lease_epoch(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    first = storage.claim_job("d1", lease_s=-1)  # expires at once: the next claimer takes it over
    assert first is not None and first.id == job.id and first.lease_epoch == 1
    second = storage.claim_job("d2", lease_s=60)
    assert second is not None and second.id == job.id and second.lease_epoch == 2
    assert storage.renew_lease(job.id, "d2", 60).lease_epoch == 2  # a renewal keeps the claim's epoch


def test_strategy_state_lives_in_its_own_row(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    assert storage.load_strategy_state(job.id) is None
    storage.save_strategy_state(job.id, {"next_id": 1})
    storage.save_strategy_state(job.id, {"next_id": 2})  # an update, not a second row
    assert storage.load_strategy_state(job.id) == {"next_id": 2}
    with pytest.raises(NotFoundError):
        storage.save_strategy_state(987654, {"next_id": 1})
    with pytest.raises(NotFoundError):
        storage.load_strategy_state(987654)


def test_late_report_for_cancelled_trial_is_stored_not_counted(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    trial = storage.create_trial(job.id, {})
    claimed = storage.claim_trial(job.id, "w")
    assert claimed is not None
    storage.transition_job(job.id, JobState.CANCELLED)
    late = storage.report_trial(trial.id, 1, make_result(0.7, 2.0), "late")
    assert late.state == TrialState.CANCELLED and late.accuracy == 0.7 and not late.on_front
    job = storage.get_job(job.id)
    assert (job.trials_completed, job.best_reward, job.state) == (0, None, JobState.CANCELLED)
    assert storage.pareto(job.id) == []


def test_stale_requeue_and_heartbeat(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    trial = storage.create_trial(job.id, {})
    storage.claim_trial(job.id, "w")
    assert storage.heartbeat(trial.id, attempt=1) == TrialState.RUNNING
    assert storage.mark_stale_trials(older_than_s=3600) == []
    assert storage.mark_stale_trials(older_than_s=-1) == [trial.id]
    assert storage.get_trial(trial.id).state == TrialState.STALE
    assert storage.heartbeat(trial.id, attempt=1) == TrialState.RUNNING  # a slow worker takes it back
    storage.mark_stale_trials(older_than_s=-1)
    requeued = storage.requeue_trial(trial.id)
    assert requeued.state == TrialState.QUEUED and requeued.attempts == 1
    again = storage.claim_trial(job.id, "w2")
    assert again is not None and again.attempts == 2
    with pytest.raises(ConflictError, match="superseded"):
        storage.heartbeat(trial.id, attempt=1)  # the first worker learns it lost the trial
    result = make_result(0.1, 1.0, TrialState.FAILED).model_copy(update={"error": "bad\x00byte"})
    failed = storage.report_trial(trial.id, 2, result, "f")
    assert failed.error == "bad\ufffdbyte"  # Postgres text refuses NUL: both backends store the same
    assert failed.state == TrialState.FAILED and storage.get_job(job.id).trials_failed == 1
    storage.requeue_trial(trial.id)
    assert storage.get_job(job.id).trials_failed == 0
    with pytest.raises(NotFoundError):
        storage.heartbeat(424242)


def _brute_front(points: dict[int, tuple[float, float]]) -> set[int]:
    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return p[0] >= q[0] and p[1] <= q[1] and (p[0] > q[0] or p[1] < q[1])

    return {i for i, p in points.items() if not any(dominates(q, p) for j, q in points.items() if j != i)}


def test_incremental_pareto_matches_brute_force(storage: BaseStorage, make_job: MakeJob) -> None:
    rng = random.Random(7)
    job = make_job(reward={"target_ms": 3.0})
    points: dict[int, tuple[float, float]] = {}
    for i in range(40):
        acc, lat = round(rng.uniform(0.3, 0.95), 2), round(rng.uniform(0.5, 6.0), 1)
        state = TrialState.PRUNED if i % 5 == 4 else TrialState.COMPLETED
        tid = run_trial(storage, job.id, acc, lat, state)
        if state == TrialState.COMPLETED:
            points[tid] = (acc, lat)
    run_trial(storage, job.id, 0.99, 0.1, TrialState.PRUNED)  # pruned: never on the front
    front = storage.pareto(job.id)
    assert {t.id for t in front} == _brute_front(points)
    assert [t.latency_ms for t in front] == sorted(t.latency_ms or 0 for t in front)
    best = storage.best(job.id, k=3)
    rewards = sorted(
        (t.reward or 0 for t in storage.list_trials(job.id, states=[TrialState.COMPLETED], limit=100).items),
        reverse=True,
    )
    assert [t.reward for t in best] == rewards[:3]
    assert storage.get_job(job.id).best_reward == rewards[0]
    hard = RewardConfig(target_ms=2.0, alpha=0.0, beta=-1.0)
    rescored = sorted(points, key=lambda i: -mnasnet_reward(*points[i], 2.0, 0.0, -1.0))
    assert [t.id for t in storage.best(job.id, k=5, reward=hard)] == rescored[:5]
    assert len(storage.completed_points(job.id)) == len(points)
    done = storage.list_trials(job.id, states=[TrialState.COMPLETED], limit=100).items
    assert sorted(storage.completed_points(job.id)) == sorted((t.id, t.accuracy, t.latency_ms) for t in done)
    assert all(
        type(i) is int and type(a) is float and type(lat) is float for i, a, lat in storage.completed_points(job.id)
    )
    by_lat = storage.list_trials(job.id, sort="latency", order="desc", limit=5)
    assert (
        by_lat.total == 41
        and by_lat.items[0].latency_ms == 6.0
        or (by_lat.items[0].latency_ms or 0.0) >= max(lat for _, lat in points.values())
    )
    assert storage.count_trials_by_state()[TrialState.PRUNED] == 9


def test_latency_cache_tokens_strategy_state(storage: BaseStorage, make_job: MakeJob) -> None:
    key = latency_cache_key("h", [3, 32, 32], "cpu-x", "torch2", LatencyConfig(batch_size=1, threads=1))
    assert storage.get_cached_latency(key) is None
    m1 = LatencyMeasurement(device="cpu-x", median_ms=2.0, p90_ms=2.5, mean_ms=2.1, samples=2, samples_ms=[2, 2.2])
    m2 = LatencyMeasurement(device="cpu-x", median_ms=9.0, p90_ms=9.5, mean_ms=9.1, samples=1)
    first = storage.put_latency(key, "h", [3, 32, 32], "torch2", m1)
    assert storage.put_latency(key, "h", [3, 32, 32], "torch2", m2).median_ms == 2.0
    assert storage.get_cached_latency(key) == first

    created = storage.create_token("carol", TokenScope.ADMIN, name="w")
    record = storage.verify_token(created.token)
    assert record is not None and record.owner == "carol" and record.scope == TokenScope.ADMIN
    assert storage.verify_token("nas_wrong") is None
    storage.revoke_token(created.record.id)
    assert storage.verify_token(created.token) is None
    assert [t.revoked for t in storage.list_tokens("carol")] == [True]

    job = make_job()
    assert storage.load_strategy_state(job.id) is None
    storage.save_strategy_state(job.id, {"population": [[1, 2]], "rng": "abc"})
    assert storage.load_strategy_state(job.id) == {"population": [[1, 2]], "rng": "abc"}
    storage.save_strategy_state(job.id, {"values": [1.5, float("nan"), float("inf")]})  # same on both backends
    assert storage.load_strategy_state(job.id) == {"values": [1.5, None, None]}
    assert storage.schema_status().up_to_date
    storage.ping()


def test_epoch_reports_are_live_progress_and_duplicates_change_nothing(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    storage.transition_job(job.id, JobState.RUNNING)
    trial = storage.create_trial(job.id, {"k": 1})
    other = storage.create_trial(job.id, {"k": 2})
    claimed = storage.claim_trial(job.id, "w")
    assert claimed is not None and claimed.id == trial.id
    before = storage.get_job(job.id).event_seq
    assert storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.5, train_loss=1.2)) is True
    after_first = storage.get_trial(trial.id)
    seq = storage.get_job(job.id).event_seq
    assert seq == before + 1 and after_first.updated_seq == seq and after_first.epochs_run == 1
    assert storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.91)) is True
    second = storage.get_trial(trial.id)
    assert second.epochs_run == 2 and second.updated_seq == seq + 1
    changed = storage.list_trials(job.id, updated_after=seq)
    assert [t.id for t in changed.items] == [trial.id]

    # a duplicate (a retried request) stores nothing and sends no event; an older epoch never lowers the count
    assert storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.1)) is False
    assert storage.get_job(job.id).event_seq == seq + 1
    assert storage.get_trial(trial.id).updated_seq == seq + 1
    assert storage.list_trials(job.id, updated_after=seq + 1).total == 0
    assert storage.report_epoch(trial.id, EpochReport(epoch=0, val_accuracy=0.3)) is True
    assert storage.get_trial(trial.id).epochs_run == 2

    last = storage.latest_metrics([trial.id, other.id, 99_999])
    assert set(last) == {trial.id}
    assert (last[trial.id].epoch, last[trial.id].val_accuracy) == (2, 0.91)
    assert storage.latest_metrics([]) == {}
    with pytest.raises(NotFoundError):
        storage.report_epoch(99_999, EpochReport(epoch=1, val_accuracy=0.5))

    # the final report keeps the larger count
    done = storage.report_trial(trial.id, claimed.attempts, make_result(0.9, 3.0), "final")
    assert done.epochs_run == 2 and done.state == TrialState.COMPLETED


def test_trial_points_are_plain_columns_in_number_order(storage: BaseStorage, make_job: MakeJob) -> None:
    empty = make_job()
    nothing = storage.list_trial_points(empty.id)
    assert nothing.total == 0 and nothing.block_strings_json == []
    assert set(nothing.columns) == set(TRIAL_POINT_COLUMNS) and all(v == [] for v in nothing.columns.values())

    job = make_job()
    storage.transition_job(job.id, JobState.RUNNING)
    arch = make_arch()
    done = run_trial(storage, job.id, 0.7, 2.0)
    with_arch = storage.create_trial(job.id, {"k": 1}, arch, params_count=10, macs=20)
    bare = storage.create_trial(job.id, {"k": 2})
    page = storage.list_trial_points(job.id)
    records = storage.list_trials(job.id, sort="number").items
    assert page.total == 3 and len(records) == 3
    for name in TRIAL_POINT_COLUMNS:
        expected = [getattr(t, name) for t in records]
        assert page.columns[name] == [getattr(v, "value", v) for v in expected], name
    assert page.columns["id"] == [done, with_arch.id, bare.id]
    assert page.columns["state"] == ["completed", "queued", "queued"]
    assert page.columns["on_front"] == [True, False, False]
    assert page.columns["resolution"] == [None, arch.resolution, None]
    blocks = page.block_strings_json
    assert blocks[1] is not None and json.loads(blocks[1]) == arch.block_strings()
    assert blocks[0] is None and blocks[2] is None

    tail = storage.list_trial_points(job.id, limit=1, offset=2)
    assert tail.total == 3 and tail.columns["id"] == [bare.id] and tail.block_strings_json == [None]
    assert storage.list_trial_points(job.id, offset=10).columns["id"] == []


def test_a_retry_reports_its_own_epochs_and_late_reports_are_ignored(storage: BaseStorage, make_job: MakeJob) -> None:
    job = make_job()
    storage.transition_job(job.id, JobState.RUNNING)
    trial = storage.create_trial(job.id, {"k": 1})
    first = storage.claim_trial(job.id, "w1")
    assert first is not None and first.attempts == 1
    for epoch, acc in [(1, 0.3), (2, 0.4), (3, 0.5)]:
        assert storage.report_epoch(trial.id, EpochReport(epoch=epoch, val_accuracy=acc)) is True
    assert storage.report_epoch(trial.id, EpochReport(epoch=3, val_accuracy=0.5), attempt=1) is False  # duplicate

    storage.mark_stale_trials(older_than_s=-1)
    requeued = storage.requeue_trial(trial.id)
    assert requeued.epochs_run == 0 and requeued.attempts == 1
    # the lost worker's epoch arriving between the attempts is not the retry's progress
    assert storage.report_epoch(trial.id, EpochReport(epoch=4, val_accuracy=0.6)) is False
    assert storage.get_trial(trial.id).epochs_run == 0

    second = storage.claim_trial(job.id, "w2")
    assert second is not None and second.attempts == 2 and second.epochs_run == 0
    assert storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.35)) is True  # not a duplicate
    assert storage.get_trial(trial.id).epochs_run == 1
    seq = storage.get_job(job.id).event_seq
    # the first attempt's late epoch is ignored: nothing stored, no event, no progress
    assert storage.report_epoch(trial.id, EpochReport(epoch=5, val_accuracy=0.7), attempt=1) is False
    assert storage.get_job(job.id).event_seq == seq and storage.get_trial(trial.id).epochs_run == 1
    assert storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.45), attempt=2) is True
    assert storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.45), attempt=2) is False
    assert storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.45)) is False
    assert storage.get_trial(trial.id).epochs_run == 2

    current = storage.list_metrics(trial.id)
    assert [(m.attempt, m.epoch, m.val_accuracy) for m in current] == [(2, 1, 0.35), (2, 2, 0.45)]
    assert [m.epoch for m in storage.list_metrics(trial.id, attempt=1)] == [1, 2, 3]
    history = storage.list_metrics(trial.id, all_attempts=True)
    assert [(m.attempt, m.epoch) for m in history] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]
    last = storage.latest_metrics([trial.id])[trial.id]
    assert (last.attempt, last.epoch, last.val_accuracy) == (2, 2, 0.45)  # not attempt 1's epoch 3

    done = storage.report_trial(trial.id, 2, make_result(0.5, 2.0), "final")
    assert done.epochs_run == 2 and done.state == TrialState.COMPLETED

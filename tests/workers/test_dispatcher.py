"""The dispatcher over a real (SQLite) storage with a scripted executor, and once end to end on a local Ray."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nas_service.jobspec import (
    EpochReport,
    JobSpec,
    JobState,
    LatencyMeasurement,
    NetAdaptConfig,
    TrialResult,
    TrialState,
)
from nas_service.orchestration import (
    CrashedEvent,
    EpochEvent,
    ExecutorEvent,
    FinishedEvent,
    HeartbeatEvent,
    InProcessExecutor,
    LatencyEvent,
    TrialHandle,
    TrialPayload,
    TrialRun,
    told_history,
)
from nas_service.orchestration.latency_cache import latency_cache_key, runtime_key
from nas_service.reward import mnasnet_reward
from nas_service.space import tiny_space
from nas_service.storage import SQLAlchemyStorage
from nas_service.storage.schema import upgrade
from nas_service.strategies import make_strategy
from nas_service.testing import step_until_done
from workers.dispatcher import Dispatcher

_RUNTIME = runtime_key("cpu:fake", "test")

Behaviour = Callable[[TrialPayload], str]


class ScriptedExecutor:
    """Stands in for RayExecutor: every attempt completes, crashes or hangs, as ``behaviour`` says.

    Accuracy falls with the trial id (later trials are worse), so a multi-fidelity pruner stops some.
    """

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or (lambda p: "complete")
        self.submitted: list[tuple[TrialHandle, TrialPayload]] = []
        self.cancelled: list[TrialHandle] = []
        self.pruned: list[TrialHandle] = []
        self._events: list[ExecutorEvent] = []

    def submit(self, payload: TrialPayload, resources: Any = None, runner: str = "train") -> TrialHandle:
        h = TrialHandle(payload.trial_id, payload.job_id, payload.attempt, f"k{len(self.submitted)}")
        self.submitted.append((h, payload))
        action = self.behaviour(payload)
        self._events.append(HeartbeatEvent(h, 4242, "127.0.0.1", "node-a", time.time()))
        if action == "crash":
            self._events.append(CrashedEvent(h, "WorkerCrashedError: the worker died"))
        elif action == "complete":
            acc = max(0.05, 0.9 - 0.05 * int(payload.trial_id))
            lat = payload.cached_latency or LatencyMeasurement(
                device="cpu:fake", median_ms=2.0, p90_ms=2.2, mean_ms=2.0, samples=3
            )
            self._events.append(LatencyEvent(h, lat))
            epochs = payload.proxy.epochs
            for e in range(1, epochs + 1):
                self._events.append(EpochEvent(h, EpochReport(epoch=e, val_accuracy=acc * e / epochs)))
            measured = payload.architecture.model_copy(
                update={"num_classes": 10, "in_channels": 1, "resolution": payload.proxy.resolution}
            )
            shape = [1, payload.proxy.resolution, payload.proxy.resolution]
            key = None
            if payload.cached_latency is None:
                key = latency_cache_key(measured.arch_hash(), shape, lat.device, _RUNTIME, payload.latency)
            result = TrialResult(
                state=TrialState.COMPLETED, accuracy=acc, latency=lat, params=1000, macs=5000, epochs_run=epochs
            )
            run = TrialRun(
                result=result, latency_key=key, latency_runtime=_RUNTIME, measured_arch_hash=measured.arch_hash(),
                input_shape=shape, num_classes=10,
            )  # fmt: skip
            self._events.append(FinishedEvent(h, result, run))
        return h

    def poll(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def cancel(self, handle: TrialHandle, grace_s: float | None = None) -> None:
        self.cancelled.append(handle)
        self._events.append(FinishedEvent(handle, TrialResult(state=TrialState.CANCELLED), None))

    def prune(self, handle: TrialHandle) -> None:
        self.pruned.append(handle)

    def shutdown(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLAlchemyStorage]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade(url)
    storage = SQLAlchemyStorage(url)
    yield storage
    storage.close()


def _spec(**overrides: Any) -> JobSpec:
    base: dict[str, Any] = {
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 4, "max_concurrent": 2, "max_attempts": 2},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 2, "max_train_samples": 300},
        "latency": {"device": "cpu", "warmup": 1, "repeats": 3},
    }
    for key, value in overrides.items():
        base[key] = {**base.get(key, {}), **value}
    return JobSpec.model_validate(base)


def _job(store: SQLAlchemyStorage, spec: JobSpec) -> int:
    space = store.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
    return store.create_job("alice", space.id, spec).id


def _drive(dispatcher: Dispatcher, store: SQLAlchemyStorage, job_id: int, steps: int = 60) -> JobState:
    return step_until_done(dispatcher, store, job_id, steps)


def _trials(store: SQLAlchemyStorage, job_id: int) -> list[Any]:
    return list(store.list_trials(job_id, limit=100).items)


def test_job_runs_to_completion(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec())
    ex = ScriptedExecutor()
    assert _drive(Dispatcher(store, ex, "d1"), store, job_id) == JobState.COMPLETED
    trials = _trials(store, job_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 4
    assert all(t.node and t.node.startswith("127.0.0.1/") and t.attempts == 1 for t in trials)
    assert [m.epoch for m in store.list_metrics(trials[0].id)] == [1, 2]
    assert store.get_job(job_id).best_reward is not None
    assert max(sum(1 for _ in group) for group in [ex.submitted]) == 4
    state = store.load_strategy_state(job_id)
    assert state and state["format"] == "nas-dispatcher/2" and state["strategy"]["pending"] == {}
    assert "history" not in state["strategy"]  # the trials are the history: one suggestion id per trial
    assert len(told_history(trials)) == 4 and len({t.suggestion_id for t in trials}) == 4
    # the job's latencies went into the cross-job cache, under the network as trained
    payload = ex.submitted[0][1]
    measured, res = payload.architecture, payload.architecture.resolution
    assert (measured.num_classes, measured.in_channels, payload.proxy.resolution) == (10, 1, res)
    key = latency_cache_key(measured.arch_hash(), [1, res, res], "cpu:fake", _RUNTIME, payload.latency)
    assert store.get_cached_latency(key) is not None


def test_second_job_reuses_cached_latency(store: SQLAlchemyStorage) -> None:
    first = _job(store, _spec())
    ex = ScriptedExecutor()
    d = Dispatcher(store, ex, "d1")
    assert _drive(d, store, first) == JobState.COMPLETED
    second = _job(store, _spec())  # same seed: the same candidates
    n = len(ex.submitted)
    assert _drive(d, store, second) == JobState.COMPLETED
    later = [p for _, p in ex.submitted[n:]]
    assert later and all(p.cached_latency is not None for p in later)


def test_candidates_over_the_caps_are_rejected(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec(constraints={"max_params": 10}))
    ex = ScriptedExecutor()
    assert _drive(Dispatcher(store, ex, "d1", max_skips=5), store, job_id) == JobState.COMPLETED
    trials = _trials(store, job_id)
    assert trials and all(t.state == TrialState.REJECTED for t in trials)
    assert trials[0].error and "max_params 10" in trials[0].error
    assert ex.submitted == []


def test_a_repeated_network_is_a_duplicate_with_the_earlier_result(store: SQLAlchemyStorage) -> None:
    spec = _spec(budget={"max_trials": 2, "max_concurrent": 1})
    job_id = _job(store, spec)
    # Train the first candidate the dispatcher's strategy (same seed) will propose, before it runs.
    first = make_strategy(spec.strategy, tiny_space(), spec.reward).ask(1)[0]
    trained = first.architecture.model_copy(update={"num_classes": 10, "in_channels": 1})  # digits' shape
    trial = store.create_trial(job_id, first.params, trained)
    claimed = store.claim_trial(job_id, "earlier")
    assert claimed is not None
    latency = LatencyMeasurement(device="cpu:fake", median_ms=1.0, p90_ms=1.0, mean_ms=1.0, samples=1)
    done = TrialResult(state=TrialState.COMPLETED, accuracy=0.77, latency=latency, epochs_run=2)
    store.report_trial(trial.id, claimed.attempts, done, "earlier")
    ex = ScriptedExecutor()
    _drive(Dispatcher(store, ex, "d1"), store, job_id)
    dups = [t for t in _trials(store, job_id) if t.state == TrialState.DUPLICATE]
    assert dups and dups[0].accuracy == 0.77 and dups[0].error == f"duplicate of trial #{trial.number}"
    assert all(p.architecture.arch_hash() != trained.arch_hash() for _, p in ex.submitted)


def test_crashed_attempts_are_retried_then_failed(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec(budget={"max_trials": 2, "max_attempts": 2}))
    ex = ScriptedExecutor(lambda p: "crash")
    assert _drive(Dispatcher(store, ex, "d1"), store, job_id) == JobState.FAILED
    trials = _trials(store, job_id)
    assert [t.state for t in trials] == [TrialState.FAILED] * 2
    assert all(t.attempts == 2 and t.error and "failed after 2 attempts" in t.error for t in trials)
    assert sorted(p.attempt for _, p in ex.submitted) == [1, 1, 2, 2]
    assert "all 2 trials failed" in (store.get_job(job_id).error or "")


def test_a_crash_is_retried_and_the_retry_completes(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec(budget={"max_trials": 2, "max_attempts": 3}))
    ex = ScriptedExecutor(lambda p: "crash" if p.attempt == 1 else "complete")
    assert _drive(Dispatcher(store, ex, "d1"), store, job_id) == JobState.COMPLETED
    assert [(t.state, t.attempts) for t in _trials(store, job_id)] == [(TrialState.COMPLETED, 2)] * 2


def test_a_restarted_dispatcher_recovers_orphaned_trials(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec())
    dead = Dispatcher(store, ScriptedExecutor(lambda p: "hang"), "dead", lease_s=0.3)
    dead.step(timeout=0.0)
    running = [t for t in _trials(store, job_id) if t.state == TrialState.RUNNING]
    assert len(running) == 2  # max_concurrent; then the dispatcher "dies" (never stepped again)
    time.sleep(0.4)  # its lease expires
    ex = ScriptedExecutor()
    assert _drive(Dispatcher(store, ex, "alive"), store, job_id) == JobState.COMPLETED
    trials = _trials(store, job_id)
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETED for t in trials)
    assert {t.id: t.attempts for t in trials if t.id in {r.id for r in running}} == {r.id: 2 for r in running}
    assert store.load_strategy_state(job_id)["strategy"]["pending"] == {}  # type: ignore[index]
    assert len(told_history(trials)) == 4  # every suggestion told exactly once across the restart


def test_cancelling_the_job_cancels_its_attempts(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec())
    ex = ScriptedExecutor(lambda p: "hang")
    d = Dispatcher(store, ex, "d1", job_check_s=0.0)
    d.step(timeout=0.0)
    assert len(ex.submitted) == 2
    store.transition_job(job_id, JobState.CANCELLED)
    d.step(timeout=0.0)
    d.step(timeout=0.0)
    assert {h.key for h in ex.cancelled} == {h.key for h, _ in ex.submitted}
    assert job_id not in d.jobs


def test_asha_prunes_worse_trials(store: SQLAlchemyStorage) -> None:
    spec = _spec(
        strategy={"multi_fidelity": "asha", "reduction_factor": 2, "min_epochs": 1},
        budget={"max_trials": 4, "max_concurrent": 1},
        proxy={"epochs": 4},
    )
    job_id = _job(store, spec)
    ex = ScriptedExecutor()
    _drive(Dispatcher(store, ex, "d1"), store, job_id)
    assert ex.pruned  # accuracy falls with the trial id: later trials rank below the first at a rung


def test_close_requeues_running_trials_and_releases_the_job(store: SQLAlchemyStorage) -> None:
    job_id = _job(store, _spec())
    d = Dispatcher(store, ScriptedExecutor(lambda p: "hang"), "d1")
    d.step(timeout=0.0)
    d.close()
    assert {t.state for t in _trials(store, job_id)} == {TrialState.QUEUED}
    assert store.get_job(job_id).claimed_by is None


@pytest.mark.ray
def test_end_to_end_on_a_local_ray(store: SQLAlchemyStorage, ray_local: None, tmp_path: Path) -> None:
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.arch.spec import Architecture
    from nas_service.artifacts import artifact_store_for, trial_weights_key
    from nas_service.export import load_state_dict
    from workers.executor import RayExecutor

    spec = _spec(budget={"max_trials": 2, "max_concurrent": 2}, proxy={"epochs": 1})
    job_id = _job(store, spec)
    ex = RayExecutor(heartbeat_interval_s=0.5)
    try:
        d = Dispatcher(store, ex, "ray-d", poll_s=0.5, data_dir=tmp_path / "data")
        deadline = time.monotonic() + 150
        while store.get_job(job_id).state == JobState.RUNNING or store.get_job(job_id).state == JobState.QUEUED:
            assert time.monotonic() < deadline, _trials(store, job_id)
            d.step()
    finally:
        ex.shutdown()
    job = store.get_job(job_id)
    trials = _trials(store, job_id)
    assert job.state == JobState.COMPLETED, (job.error, [(t.state, t.error) for t in trials])
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2
    assert all(t.accuracy is not None and t.latency_ms and t.reward is not None and t.node for t in trials)
    assert all(store.list_metrics(t.id) for t in trials)
    # The trained weights came back through Ray and were stored where the artifacts route serves them.
    for t in trials:
        state = load_state_dict(artifact_store_for(store, tmp_path / "data", "database").get(trial_weights_key(t.id)))
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        build_model(Architecture.model_validate(t.architecture)).load_state_dict(state, strict=True)


def test_wall_time_budget_cancels_and_completes(store: SQLAlchemyStorage) -> None:
    # 3 s: the first step (claim, open, submit) must come well within it on a loaded box (it took 0.8 s once).
    job_id = _job(store, _spec(budget={"max_wall_s": 3.0}))
    ex = ScriptedExecutor(lambda p: "hang")
    d = Dispatcher(store, ex, "d1", job_check_s=0.0)
    d.step(timeout=0.0)
    assert len(ex.submitted) == 2
    time.sleep(3.1)
    assert _drive(d, store, job_id, steps=5) == JobState.COMPLETED
    assert {h.key for h in ex.cancelled} == {h.key for h, _ in ex.submitted}
    assert {t.state for t in _trials(store, job_id)} == {TrialState.CANCELLED}


def test_embedded_dispatcher_logs_one_line_and_the_traceback_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    from workers.dispatcher import EmbeddedDispatcher

    class Broken:
        executor = ScriptedExecutor()

        def run(self, stop: object) -> None:
            raise RuntimeError("database went away")

    with caplog.at_level(logging.DEBUG, logger="workers.dispatcher"):
        handle = EmbeddedDispatcher(Broken())  # type: ignore[arg-type]
        handle.stop(timeout=10)
    assert handle.error == "RuntimeError: database went away" and not handle.is_alive()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "database went away" in errors[0].getMessage()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(debug) == 1


def _profile_local_cpu(store: SQLAlchemyStorage) -> Any:
    """A profiled local-cpu predictor: the parts of a tiny-space network measured for real, stored."""
    from nas_service.latency import LatencyPredictor, LatencyTarget, MeasurementPolicy, gate, target_settings
    from nas_service.latency.profiling import fill_table

    space = tiny_space()
    arch = space.decode(space.sample(0)).model_copy(update={"resolution": 16, "num_classes": 10, "in_channels": 1})
    cpu = LatencyTarget(name="local-cpu", warmup=1, repeats=5)
    predictor = LatencyPredictor("local-cpu", target_settings(cpu))
    fill_table(predictor, arch, cpu, MeasurementPolicy(max_rounds=1))
    store.save_latency_predictor("local-cpu", predictor.to_dict())
    gate._cache.clear()
    return predictor


def test_predict_then_measure_rejects_candidates_predicted_over_the_target(store: SQLAlchemyStorage) -> None:
    """A profiled local-cpu predictor gates placement."""
    _profile_local_cpu(store)
    slow = _spec(latency={"mode": "predict-then-measure", "reject_factor": 2.0}, reward={"target_ms": 1e-4})
    job_id = _job(store, slow)
    ex = ScriptedExecutor()
    assert _drive(Dispatcher(store, ex, "d1", max_skips=5), store, job_id) == JobState.COMPLETED
    trials = _trials(store, job_id)
    assert trials and all(t.state == TrialState.REJECTED for t in trials) and ex.submitted == []
    assert "predicted latency" in (trials[0].error or "") and "local-cpu" in (trials[0].error or "")
    fast = _spec(latency={"mode": "predict-then-measure"}, reward={"target_ms": 1e4})
    job_id = _job(store, fast)
    assert _drive(Dispatcher(store, ScriptedExecutor(), "d2"), store, job_id) == JobState.COMPLETED
    assert all(t.state == TrialState.COMPLETED for t in _trials(store, job_id))


@pytest.mark.parametrize("mode", ["predict", "predict-then-measure"])
def test_a_predicted_latency_reaches_the_trial_record(store: SQLAlchemyStorage, mode: str) -> None:
    """``predict``: the prediction is the trial's latency and reward (nothing measured); ``predict-then-measure``:
    the measurement keeps the prediction beside it. Both are the stored predictor's numbers for the network."""
    from nas_service.arch.spec import Architecture
    from nas_service.latency import network_parts

    predictor = _profile_local_cpu(store)
    job_id = _job(store, _spec(latency={"mode": mode}, reward={"target_ms": 1e4}))
    assert _drive(Dispatcher(store, InProcessExecutor(), "d1"), store, job_id) == JobState.COMPLETED
    trials = _trials(store, job_id)
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETED for t in trials)
    for t in trials:
        expected = predictor.predict_parts(network_parts(Architecture.model_validate(t.architecture))).predicted_ms
        assert t.latency["predicted_ms"] == pytest.approx(expected)
        if mode == "predict":
            assert t.latency["runtime"] == "predicted" and t.latency_ms == pytest.approx(expected)
            assert t.reward == pytest.approx(mnasnet_reward(t.accuracy, t.latency_ms, 1e4, -0.07, -0.07))
        else:
            assert t.latency["runtime"] != "predicted" and t.latency["device"] == "cpu:synthetic"
    from nas_service.finalize import final_spec

    final = final_spec(store.get_job(job_id), trials[:1]).latency
    assert final.mode == "predict-then-measure"  # stage two measures what it deploys, the prediction beside it
    assert final.reject_factor == (100.0 if mode == "predict" else 2.0)


@pytest.mark.parametrize("name", ["surrogate", "evolution", "nsga2", "mnas-rl"])
def test_latency_aware_strategies_know_the_target_predictors_latency_before_training(
    store: SQLAlchemyStorage, name: str
) -> None:
    """With a profiled target and a predicting mode the strategy's oracle is the predictor (on the network as
    trained); with ``measure`` it fits its own."""
    from nas_service.latency import network_parts
    from nas_service.orchestration.opening import open_job
    from nas_service.strategies.latency import FittedLatencyOracle

    predictor = _profile_local_cpu(store)
    for mode in ("predict-then-measure", "measure"):
        job_id = _job(store, _spec(strategy={"name": name}, latency={"mode": mode}))
        run = open_job(store, store.get_job(job_id), probe=lambda proxy: (10, 1))
        oracle = run.strategy.oracle  # type: ignore[attr-defined]
        if mode == "measure":
            assert isinstance(oracle, FittedLatencyOracle)
            continue
        space = tiny_space()
        for seed in range(3):
            arch = space.decode(space.sample(seed))
            trained = arch.model_copy(update={"resolution": 16, "num_classes": 10, "in_channels": 1})
            expected = predictor.predict_parts(network_parts(trained)).predicted_ms
            assert oracle.calibrated and oracle.latency_ms(arch) == pytest.approx(expected)


def test_netadapt_estimates_with_the_target_predictor_when_the_job_predicts(store: SQLAlchemyStorage) -> None:
    from nas_service.orchestration.opening import open_job
    from nas_service.strategies.latency import CallableLatencyOracle, FittedLatencyOracle

    _profile_local_cpu(store)
    for mode, kind in (("predict-then-measure", CallableLatencyOracle), ("measure", FittedLatencyOracle)):
        spec = _spec(latency={"mode": mode}).model_copy(
            update={"kind": "netadapt", "netadapt": NetAdaptConfig(base=[["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"]],
                                                                   budget_fraction=0.5)}
        )  # fmt: skip
        run = open_job(store, store.get_job(_job(store, spec)), probe=lambda proxy: (10, 1))
        assert isinstance(run.strategy.oracle, kind)  # type: ignore[attr-defined]
        run.strategy.load_state_dict(run.strategy.state_dict(), [])  # a restore keeps it
        assert isinstance(run.strategy.oracle, kind)  # type: ignore[attr-defined]

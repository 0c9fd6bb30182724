"""Test helpers for code that talks to a controller: a live server in a thread and seeded jobs.

Used by the SDK, CLI, API-explorer and dashboard tests and by ``benchmarks/dashboard_bench.py``; like
:mod:`nas_service.storage.testing`, it sits beside the library, outside the SDK (:mod:`nas_service.client`),
which never imports it. Heavy imports
(uvicorn, the API app, the search space) happen inside the functions.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas_service.jobspec import (
    BudgetConfig,
    EpochReport,
    JobSpec,
    JobState,
    LatencyMeasurement,
    RewardConfig,
    TrialResult,
    TrialState,
)

#: Debian's chromium (no browser download works offline) and the flags that keep it off the network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """The real controller app (``api.app.create_app``) served by uvicorn on 127.0.0.1 in a daemon thread.

    Attributes:
        data_dir: The controller's data directory (SQLite database, admin token, artifacts).
        url: ``http://127.0.0.1:<port>`` once started.
        token: An admin token valid on this server.
        storage: The storage the app uses (seed it directly).
        sse_poll_s: How often the event stream polls the storage.
        extra_routers: Routers to include under ``/api/v1`` besides the app's own.
    """

    data_dir: Path
    url: str = ""
    token: str = ""
    storage: Any = None
    sse_poll_s: float = 0.1
    extra_routers: list[Any] = field(default_factory=list)
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> LiveServer:
        """Open the storage, create the app and serve it; returns ``self`` once it accepts connections."""
        import uvicorn

        from api.app import create_app
        from nas_service.settings import Settings
        from nas_service.storage import TokenScope, open_storage

        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        db_url = f"sqlite:///{self.data_dir / 'nas.db'}"
        settings = Settings(data_dir=self.data_dir, database_url=db_url, host="127.0.0.1", port=port)
        self.storage = open_storage(db_url, check_schema=True, auto_upgrade=True)
        self.token = self.storage.create_token("admin", TokenScope.ADMIN, name="tests").token
        app = create_app(settings=settings, storage=self.storage)
        app.state.sse_poll_s = self.sse_poll_s  # tests follow jobs that change fast
        for router in self.extra_routers:
            app.include_router(router, prefix="/api/v1")
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        """Stop serving and close the storage."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.storage is not None:
            self.storage.close()


def synthetic_result(rng: random.Random, state: TrialState = TrialState.COMPLETED) -> TrialResult:
    """A plausible final result: accuracy grows with latency (with noise), a few latency samples."""
    lat = math.exp(rng.gauss(0.5, 0.45))
    acc = max(0.05, min(0.995, 0.98 - 0.35 * math.exp(-lat / 1.4) + rng.gauss(0, 0.025)))
    samples = sorted(lat * math.exp(rng.gauss(0, 0.04)) for _ in range(12))
    latency = LatencyMeasurement(
        device="cpu (seeded)",
        median_ms=lat,
        p90_ms=samples[int(0.9 * (len(samples) - 1))],
        mean_ms=sum(samples) / len(samples),
        std_ms=0.0,
        samples=len(samples),
        samples_ms=samples,
    )
    return TrialResult(
        state=state,
        accuracy=acc if state in (TrialState.COMPLETED, TrialState.PRUNED) else None,
        latency=latency if state == TrialState.COMPLETED else None,
        params=rng.randint(20_000, 130_000),
        macs=rng.randint(500_000, 9_000_000),
        epochs_run=3 if state == TrialState.COMPLETED else 1,
        train_seconds=rng.uniform(2, 9),
        error="seeded failure" if state == TrialState.FAILED else None,
    )


def seed_job(
    storage: Any,
    n_trials: int,
    *,
    owner: str = "admin",
    seed: int = 0,
    name: str = "seeded-search",
    target_ms: float = 2.0,
    finish: bool = True,
    epochs: bool = True,
    failed_every: int = 17,
) -> Any:
    """Create a job on the ``digits`` preset space with ``n_trials`` finished trials, through the storage API.

    Every ``failed_every``-th trial fails; the rest complete with :func:`synthetic_result`. With ``finish``
    the job ends ``completed``, otherwise it stays ``running``.

    Returns:
        The final ``JobRecord``.
    """
    from nas_service.space import digits_space

    rng = random.Random(seed)
    space = digits_space()
    space_rec = storage.create_space(owner, f"{name}-space", space.model_dump(mode="json"))
    spec = JobSpec(
        name=name,
        budget=BudgetConfig(max_trials=max(1, n_trials)),
        reward=RewardConfig(target_ms=target_ms),
    )
    job = storage.create_job(owner, space_rec.id, spec)
    storage.transition_job(job.id, JobState.RUNNING)
    for i in range(n_trials):
        params = space.sample(rng)
        trial = storage.create_trial(job.id, params, space.decode(params))
        claimed = storage.claim_trial(job.id, "seeder")
        assert claimed is not None
        state = TrialState.FAILED if failed_every and i % failed_every == failed_every - 1 else TrialState.COMPLETED
        result = synthetic_result(rng, state)
        if epochs and state == TrialState.COMPLETED:
            for epoch in range(3):
                acc = max(0.0, (result.accuracy or 0) - 0.12 * (2 - epoch) + rng.gauss(0, 0.01))
                storage.report_epoch(trial.id, EpochReport(epoch=epoch, val_accuracy=min(1.0, acc)))
        storage.report_trial(trial.id, claimed.attempts, result, f"seed-{trial.id}")
    if finish:
        return storage.transition_job(job.id, JobState.COMPLETED)
    return storage.get_job(job.id)


def size_latency_ms(arch: Any) -> float:
    """A deterministic stand-in for a measured latency: per-block overhead plus MACs (for seeded NetAdapt jobs)."""
    from nas_service.arch.profile import count_macs

    blocks = sum(b.repeats for stage in arch.stages for b in stage)
    return 0.05 * blocks + count_macs(arch) / 2e6


def seed_netadapt(storage: Any, job_id: int, asks: int = 50) -> None:
    """Drive a netadapt job's real strategy ``asks`` batches deep with size-derived accuracy and latency, and store
    its trials and state as the dispatcher does (the NetAdapt table's API, CLI and dashboard tests read them)."""
    from nas_service.arch.profile import count_macs
    from nas_service.orchestration import STATE_FORMAT
    from nas_service.orchestration.opening import resolve_netadapt
    from nas_service.storage.testing import store_told
    from nas_service.strategies import make_strategy
    from nas_service.strategies.base import Outcome

    spec = storage.get_job(job_id).spec
    config = spec.strategy.model_copy(update={"name": "netadapt"})
    strategy = make_strategy(config, None, spec.reward, netadapt=resolve_netadapt(storage, spec))
    networks = {}
    for _ in range(asks):
        asked = strategy.ask(4)
        if not asked:
            break
        for s in asked:
            networks[s.suggestion_id] = s.architecture
            acc = min(0.99, 0.05 * math.log(count_macs(s.architecture)))
            outcome = Outcome(state="completed", accuracy=acc, latency_ms=size_latency_ms(s.architecture))
            strategy.tell(s.suggestion_id, outcome)
    told = [(t.suggestion_id, t.params, t.outcome.accuracy, t.outcome.latency_ms) for t in strategy.told()]
    store_told(storage, job_id, told, networks)
    storage.save_strategy_state(job_id, {"format": STATE_FORMAT, "strategy": strategy.state_dict()})


def step_until_done(dispatcher: Any, storage: Any, job_id: int, steps: int = 200) -> JobState:
    """Step ``dispatcher`` (no waiting) until ``job_id`` is completed, failed or cancelled, at most ``steps``
    times; the job's state then (the policy tests drive a dispatcher this way, without Ray)."""
    for _ in range(steps):
        dispatcher.step(timeout=0.0)
        state = storage.get_job(job_id).state
        if state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
            return state
    return storage.get_job(job_id).state

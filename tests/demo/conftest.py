"""Fixtures of the ``nas demo`` tests: a clean environment and a stand-in dispatcher for the fast flow tests."""

from __future__ import annotations

import random
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nas_service.jobspec import EpochReport, JobState
from nas_service.settings import get_settings


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Nothing configured but the data dir (in ``tmp_path``); Ray never phones home. Yields the data dir."""
    for name in ("NAS_DATABASE_URL", "NAS_RAY_ADDRESS", "NAS_TOKEN", "NAS_API_URL", "NAS_PORT", "NAS_HOST"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("NAS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


class FakeDispatcher:
    """Plays the dispatcher's part through the storage: claims the job and fabricates quick trials.

    Args:
        settings: Ignored.
        storage: The demo's storage.
        mode: ``"run"`` finishes every job, ``"idle"`` never claims one, ``"die"`` stops at once.
    """

    def __init__(self, settings: Any, storage: Any, mode: str = "run") -> None:
        self.storage, self.mode = storage, mode
        self.stopped = False
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """Whether the loop still runs."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """End the loop."""
        self.stopped = True
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from nas_service.space import digits_space
        from nas_service.testing import synthetic_result

        if self.mode == "die":
            return
        rng, space = random.Random(0), digits_space()
        while not self._stop.wait(0.05):
            job = None if self.mode == "idle" else self.storage.claim_job("fake", 30)
            if job is None:
                continue
            for _ in range(job.spec.budget.max_trials):
                params = space.sample(rng)
                trial = self.storage.create_trial(job.id, params, space.decode(params))
                claimed = self.storage.claim_trial(job.id, "fake")
                self.storage.start_trial(trial.id, claimed.attempts, "w", "n", "cpu")
                for epoch in range(job.spec.proxy.epochs):
                    time.sleep(0.3)
                    self.storage.report_epoch(trial.id, EpochReport(epoch=epoch + 1, val_accuracy=0.5))
                self.storage.report_trial(trial.id, claimed.attempts, synthetic_result(rng), f"fake-{trial.id}")
            self.storage.transition_job(job.id, JobState.COMPLETED)


@dataclass
class FakeDispatchers:
    """The stand-in ``workers.dispatcher`` module's state: the mode of the next start and every handle started."""

    mode: str = "run"
    started: list[FakeDispatcher] = field(default_factory=list)

    def start_embedded(self, settings: Any, storage: Any) -> FakeDispatcher:
        """What ``workers.dispatcher.start_embedded`` does here."""
        handle = FakeDispatcher(settings, storage, self.mode)
        self.started.append(handle)
        return handle


@pytest.fixture
def fake_dispatcher(monkeypatch: pytest.MonkeyPatch) -> FakeDispatchers:
    """Replace ``workers.dispatcher`` by a stand-in (no Ray, no training) for the tests of the demo's own flow."""
    fakes = FakeDispatchers()
    module = types.ModuleType("workers.dispatcher")
    module.start_embedded = fakes.start_embedded  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers.dispatcher", module)
    return fakes

"""Shared fixtures of the dashboard's browser tests: one seeded live controller and one Chromium per session.

The server holds a 200-trial job (with a repeat of a front trial's exact result, so two trials tie on the
front); tests that need a live job seed their own. Pages get the admin token through ``localStorage``.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nas_service.jobspec import JobState, LatencyMeasurement
from nas_service.testing import CHROMIUM, CHROMIUM_FLAGS, LiveServer, seed_job, synthetic_result

#: The page has drawn the front and loaded every trial's row (see job.js).
LOADED = "window.__nasFrontDrawnAt != null && window.__nasTrialsLoadedAt != null"
#: Why the browser tests cannot run here, or ``None``.
NO_BROWSER = (
    None
    if os.path.exists(CHROMIUM)
    else (f"{CHROMIUM} is missing: the dashboard browser tests are SKIPPED (run scripts/ensure-chromium.sh)")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the browser tests loudly (stderr and the warnings summary) where Chromium is missing."""
    browser_items = [i for i in items if i.get_closest_marker("browser") and "dashboard" in str(i.path)]
    if NO_BROWSER and browser_items:  # pragma: no cover - depends on the machine
        print(f"\n!!! {NO_BROWSER}\n", file=sys.stderr)
        warnings.warn(NO_BROWSER, stacklevel=1)
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=NO_BROWSER))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live controller with a completed 200-trial job (``server.job``) and two tied front trials."""
    live = LiveServer(tmp_path_factory.mktemp("dashboard")).start()
    job = seed_job(live.storage, 200, seed=3, finish=False)
    # A repeat of a front trial's exact result (same architecture, cached latency): both are on the front.
    twin = live.storage.pareto(job.id)[1]
    repeat = live.storage.create_trial(job.id, twin.params, twin.architecture and _arch(twin.architecture))
    claimed = live.storage.claim_trial(job.id, "w")
    result = synthetic_result(random.Random(0)).model_copy(
        update={"accuracy": twin.accuracy, "latency": LatencyMeasurement.model_validate(twin.latency)}
    )
    live.storage.report_trial(repeat.id, claimed.attempts, result, "twin")
    live.job = live.storage.transition_job(job.id, JobState.COMPLETED)  # type: ignore[attr-defined]
    live.twins = (twin.id, repeat.id)  # type: ignore[attr-defined]
    yield live
    live.stop()


def _arch(body: dict[str, Any]) -> Any:
    from nas_service.arch.spec import Architecture

    return Architecture.model_validate(body)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's, with the shared offline flags)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Any, server: LiveServer) -> Iterator[Callable[..., Any]]:
    """``new_page(width=1400, height=1000)``: a page with the token set; fails the test on any JS error."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _new(width: int = 1400, height: int = 1000, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        context.add_init_script(f"localStorage.setItem('nas-token', {server.token!r});")
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        return pg

    yield _new
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A 1400 x 1000 page."""
    return new_page()


@pytest.fixture
def open_job(server: LiveServer) -> Callable[..., None]:
    """``open_job(page, job_id=None)``: load a job page (the seeded job by default) and wait for every trial."""

    def _open(pg: Any, job_id: int | None = None) -> None:
        pg.goto(f"{server.url}/dashboard/jobs/{job_id or server.job.id}")  # type: ignore[attr-defined]
        try:
            pg.wait_for_function(LOADED, timeout=30_000)
        except Exception:
            pytest.fail(f"the front was never drawn; page error box: {pg.locator('#job-error').inner_text()!r}")

    return _open

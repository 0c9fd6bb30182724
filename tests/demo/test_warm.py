"""The demo's warm-up: the Ray workers that will run the trials already hold torch, the trial runner and the data."""

from __future__ import annotations

import pytest


@pytest.mark.ray
def test_warmed_workers_are_the_ones_tasks_then_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():  # another test's Ray: this one needs its own two-CPU one
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        from nas_service.cli.demo._warm import warm_workers
        from nas_service.jobspec import ProxyConfig

        proxy = ProxyConfig(dataset="digits", resolution=16, threads=1).model_dump(mode="json")
        target_ms, blocks = warm_workers(proxy, 16, 2)
        assert 0 < target_ms < 1000 and blocks

        @ray.remote(num_cpus=1, max_retries=0)
        def probe() -> tuple[bool, bool]:
            import sys

            from workers.data import _load_cached

            return "workers.trial" in sys.modules, _load_cached.cache_info().currsize > 0

        assert ray.get([probe.remote() for _ in range(4)]) == [(True, True)] * 4
    finally:
        ray.shutdown()

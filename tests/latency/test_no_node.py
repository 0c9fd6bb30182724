"""A target whose Ray resource no node advertises fails the measurement with that reason, after a bounded wait."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.ray]


def test_missing_latency_node_is_a_clear_error_not_a_hang() -> None:
    ray = pytest.importorskip("ray")
    from workers.latency import NoLatencyNodeError, _wait_for_resource

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, resources={"latency:here": 1})
    try:
        _wait_for_resource("latency:here", 0.0)  # advertised: no wait
        t0 = time.monotonic()
        with pytest.raises(NoLatencyNodeError, match="latency:edge-a76.*waited 1 s"):
            _wait_for_resource("latency:edge-a76", 1.0)
        assert time.monotonic() - t0 < 10
    finally:
        ray.shutdown()

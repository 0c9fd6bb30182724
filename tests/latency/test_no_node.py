"""A target whose Ray resource no node advertises fails the measurement with that reason, after a bounded wait."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ray]


_BODY = """
import time, ray
from workers.latency import NoLatencyNodeError, _wait_for_resource
ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, resources={"latency:here": 1})
try:
    _wait_for_resource("latency:here", 0.0)  # advertised: no wait
    t0 = time.monotonic()
    try:
        _wait_for_resource("latency:edge-a76", 1.0)
    except NoLatencyNodeError as exc:
        print("ERROR:", exc)
    print("WAITED:", time.monotonic() - t0)
finally:
    ray.shutdown()
"""


def test_missing_latency_node_is_a_clear_error_not_a_hang() -> None:
    # A Ray runtime of its own, in a process of its own: this test session may already hold one.
    done = subprocess.run([sys.executable, "-c", _BODY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    error = next(line for line in done.stdout.splitlines() if line.startswith("ERROR:"))
    assert re.search(r"latency:edge-a76.*waited 1 s", error), error
    waited = float(next(line for line in done.stdout.splitlines() if line.startswith("WAITED:")).split()[1])
    assert waited < 10

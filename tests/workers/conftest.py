"""Fixtures of the worker tests: a tiny network, tiny proxy settings and one local Ray per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Before ray is imported: never phone home; the same auth mode as every `ray start` in these tests.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from nas_service.arch.spec import Architecture  # noqa: E402
from nas_service.jobspec import LatencyConfig, ProxyConfig  # noqa: E402
from nas_service.settings import get_settings  # noqa: E402

TINY_BLOCKS = [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16_se0.25"]]


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dispatchers default to ``get_settings().data_dir``: never the user's real one in a test."""
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def tiny_arch() -> Architecture:
    """A ~2k-parameter MBConv net as trained on digits at 16 px (a payload carries the network as trained)."""
    return Architecture.from_block_strings(
        TINY_BLOCKS, stem={"out_channels": 8}, head={"num_features": 32}, dropout=0.0, name="tiny",
        resolution=16, num_classes=10, in_channels=1,
    )  # fmt: skip


@pytest.fixture
def tiny_proxy() -> ProxyConfig:
    """Digits at 16 px, 600 training images, one epoch."""
    return ProxyConfig(
        dataset="digits", resolution=16, epochs=1, batch_size=64, lr=0.1, threads=1, max_train_samples=600
    )


@pytest.fixture
def quick_latency() -> LatencyConfig:
    """A few repeats: enough to get a number, not a stable one."""
    return LatencyConfig(device="cpu", warmup=2, repeats=5, threads=1)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray runtime (2 CPUs, no dashboard) for the whole test session."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()

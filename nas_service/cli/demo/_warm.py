"""Warm the demo's Ray workers before the first trial, and measure the reward's target ``T`` on one of them.

A Ray worker process pays for importing torch and the trial runner and for loading the proxy data once; Ray then
reuses it for the job's trials. Paid inside the first trial, that start-up kept a core idle or slow for 3-4 s
per worker; paid here, it runs on every core at once, together with the measurement of ``T`` (which would
otherwise run alone in the demo's own process first). ``T`` is measured the way a trial measures latency: in a
Ray worker, one thread.
"""

from __future__ import annotations

from typing import Any


def _warm(proxy: dict[str, Any], measure_at: int | None) -> tuple[float, list[list[str]]] | None:
    """Runs in a Ray worker: import what a trial imports, load its data, optionally measure ``T``."""
    import torch

    torch.set_num_threads(1)
    import workers.trial  # noqa: F401 - the trial runner's imports, paid now
    from nas_service.jobspec import ProxyConfig
    from workers.data import load_dataset

    load_dataset(ProxyConfig.model_validate(proxy))  # cached in this process for the job's trials
    if measure_at is None:
        return None
    from nas_service.cli.demo._job import measure_target_ms

    return measure_target_ms(measure_at)


def warm_workers(proxy: dict[str, Any], resolution: int, workers: int) -> tuple[float, list[list[str]]]:
    """Start and warm ``workers`` Ray workers at once; one of them measures ``T``.

    Without a Ray in this process (a dispatcher that runs none) ``T`` is measured here instead, with nothing to warm.

    Args:
        proxy: The job's ``ProxyConfig`` as a dict (the data to load, as the trials will).
        resolution: The proxy resolution ``T`` is measured at.
        workers: How many workers to warm (the job's concurrency).

    Returns:
        ``T`` in ms and the base network's block strings (see :func:`~nas_service.cli.demo._job.measure_target_ms`).
    """
    import ray

    if not ray.is_initialized():
        from nas_service.cli.demo._job import measure_target_ms

        return measure_target_ms(resolution)
    task = ray.remote(num_cpus=1, max_retries=0)(_warm)
    refs = [task.remote(proxy, resolution if i == 0 else None) for i in range(max(1, workers))]
    measured, *_ = ray.get(refs)
    assert measured is not None
    return measured

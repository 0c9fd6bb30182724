"""Prometheus metrics (``prometheus_client``), read from the database at scrape time.

Everything comes from the shared database, so every API replica reports the same numbers and a dispatcher on
another host needs no metrics endpoint of its own:

* gauges ``nas_jobs{state}`` and ``nas_trials{state}``: how many are in each state now;
* counters ``nas_trials_created_total``, ``nas_trials_{completed,pruned,failed,cancelled}_total`` (final
  reports), ``nas_trial_requeues_total`` and ``nas_trials_stale_total``: kept by the storage in the same
  transaction as each change (:meth:`~nas_service.storage.BaseStorage.count_trial_transitions`), so they only
  grow: a requeued failed trial stays counted as a failure and adds one requeue;
* the ``process_*`` metrics of this API process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from nas_service.storage import BaseStorage

#: Counter name (without ``_total``) -> (the storage's transition key, help text).
COUNTERS: dict[str, tuple[str, str]] = {
    "nas_trials_created": ("created", "Trials created (queued, or stored rejected/duplicate)."),
    "nas_trials_completed": ("completed", "Trial attempts reported completed."),
    "nas_trials_pruned": ("pruned", "Trial attempts stopped early by the multi-fidelity scheduler."),
    "nas_trials_failed": ("failed", "Trial attempts reported failed (a later requeue does not undo it)."),
    "nas_trials_cancelled": ("cancelled", "Trial attempts reported cancelled."),
    "nas_trial_requeues": ("requeued", "Stale or failed trials put back in the queue for another attempt."),
    "nas_trials_stale": ("stale", "Running trials marked stale (missed heartbeats)."),
    "nas_trials_unschedulable": ("unschedulable", "Trial attempts no worker could take in time (their job failed)."),
}


class StorageCollector(Collector):
    """Collects the database-backed metrics on every scrape.

    Args:
        storage: Returns the storage to read (the app's, which the lifespan may open after this is built).
    """

    def __init__(self, storage: Callable[[], BaseStorage]) -> None:
        self._storage = storage

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges and counters (one read of each kind)."""
        storage = self._storage()
        jobs = GaugeMetricFamily("nas_jobs", "Jobs by state.", labels=["state"])
        for state, n in storage.count_jobs_by_state().items():
            jobs.add_metric([state.value], n)
        yield jobs
        trials = GaugeMetricFamily("nas_trials", "Trials by state.", labels=["state"])
        for trial_state, n in storage.count_trials_by_state().items():
            trials.add_metric([trial_state.value], n)
        yield trials
        counts = storage.count_trial_transitions()
        for name, (key, help_text) in COUNTERS.items():
            yield CounterMetricFamily(name, help_text, value=counts.get(key, 0))

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: describing would read the database at registration."""
        return iter(())


def make_registry(storage: Callable[[], BaseStorage]) -> CollectorRegistry:
    """A registry of one app: the storage collector plus this process's ``process_*`` metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StorageCollector(storage))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``."""
    return generate_latest(registry)

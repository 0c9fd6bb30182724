"""The dispatcher as ``nas dispatcher`` and ``nas serve`` run it: the library's loop on the Ray executor.

The policy (claims, recovery, placement, retries, completion) lives in :mod:`nas_service.orchestration`;
this module only adds what needs the worker side: reading a job's proxy data shape
(:func:`workers.data.dataset_signature`) and a Ray executor started in the dispatcher's own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from nas_service.jobspec import ProxyConfig
from nas_service.orchestration import Dispatcher as _LibraryDispatcher
from nas_service.orchestration.executor import BaseExecutor
from nas_service.settings import Settings
from nas_service.storage.base import BaseStorage

__all__ = ["Dispatcher", "EmbeddedDispatcher", "start_embedded"]

log = logging.getLogger(__name__)


def _probe(proxy: ProxyConfig) -> tuple[int, int]:
    from workers.data import dataset_signature  # lazy: numpy and the dataset loaders

    return dataset_signature(proxy)


class Dispatcher(_LibraryDispatcher):
    """:class:`nas_service.orchestration.Dispatcher` reading proxy data shapes with the workers' loaders."""

    def __init__(self, storage: BaseStorage, executor: BaseExecutor, dispatcher_id: str | None = None, **kwargs: Any):
        """See :class:`nas_service.orchestration.Dispatcher` (``probe_data`` defaults to the workers' loaders)."""
        kwargs.setdefault("probe_data", _probe)
        super().__init__(storage, executor, dispatcher_id, **kwargs)


class EmbeddedDispatcher:
    """A dispatcher running in a daemon thread of this process (``nas serve``, ``nas demo``).

    Attributes:
        dispatcher: The dispatcher.
        error: Why the loop stopped on its own, if it did.
    """

    def __init__(self, dispatcher: _LibraryDispatcher) -> None:
        self.dispatcher = dispatcher
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nas-dispatcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.dispatcher.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - reported through is_alive()/error
            # One line at ERROR; the traceback only at DEBUG (a process without logging config would
            # otherwise print it raw to stderr).
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("the embedded dispatcher stopped: %s", self.error)
            log.debug("the embedded dispatcher's traceback", exc_info=True)

    def is_alive(self) -> bool:
        """Whether the loop still runs."""
        return self._thread.is_alive()

    def health_problem(self) -> str | None:
        """What keeps the dispatcher from working (``None`` when healthy), fit for ``/readyz``: no host, port or
        driver text."""
        if not self.is_alive():
            return "dispatcher stopped"
        health = self.dispatcher.health
        return None if health.ok else f"dispatcher: {health.reason or 'database unavailable'}"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop (held jobs are given back), then shut the executor down."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        self.dispatcher.executor.shutdown()


def start_embedded(settings: Settings, storage: BaseStorage, **kwargs: Any) -> EmbeddedDispatcher:
    """Start a dispatcher with a Ray executor (``settings.ray_address``, else a local Ray) in a daemon thread.

    Args:
        settings: The service settings.
        storage: The open storage the API uses too.
        **kwargs: Passed to :class:`Dispatcher` (``max_jobs``, ``lease_s``, ...); ``data_dir`` defaults to
            ``settings.data_dir``.

    Returns:
        The running handle; ``stop()`` it on shutdown.
    """
    from workers.executor import RayExecutor

    kwargs.setdefault("data_dir", settings.data_dir)  # where trained weights are saved
    address = settings.ray_address
    loopback = None if address else settings.embedded_ray_ip  # a local Ray stays on loopback
    executor = RayExecutor(address=address, node_ip_address=loopback)  # created here: Ray wants this thread
    return EmbeddedDispatcher(Dispatcher(storage, executor, **kwargs))

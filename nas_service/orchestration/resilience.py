"""Surviving database outages: the dispatcher backs off and retries instead of stopping, and keeps what it could
not write.

* :func:`is_transient` says which storage errors are worth retrying (the database could not be reached, or an
  unmapped driver error), as opposed to refusals (conflicts, missing rows, a lost lease) that retrying cannot fix.
* :class:`StorageHealth` is what the dispatcher knows about its database: down since when, how many failed tries,
  the last one's reason. ``/readyz`` reports it for the embedded dispatcher.
* :func:`step_retrying` wraps one dispatcher tick in a :mod:`tenacity` retry with jittered exponential backoff that
  gives up only when the dispatcher is asked to stop.
* :func:`worth_keeping` picks the executor events whose writes must not be lost (epochs, results, crashes): the
  dispatcher keeps those it could not write and replays them, in order, once the database is back. Heartbeats are
  dropped (the next one replaces them); results are stored idempotently by the attempt's key, so a replay never
  counts a trial twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from nas_service.orchestration.executor import CrashedEvent, EpochEvent, ExecutorEvent, FinishedEvent
from nas_service.storage.errors import StorageError, StorageUnavailable

__all__ = ["StorageHealth", "is_transient", "step_retrying", "worth_keeping"]

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error may go away by itself (database unreachable, or an unmapped driver error)."""
    return isinstance(exc, StorageUnavailable) or type(exc) is StorageError


def worth_keeping(event: ExecutorEvent) -> bool:
    """Whether an event that could not be written is kept for a replay (everything but heartbeats and latencies)."""
    return isinstance(event, EpochEvent | FinishedEvent | CrashedEvent)


@dataclass
class StorageHealth:
    """The dispatcher's view of its database.

    Attributes:
        ok: The last storage call succeeded (or none failed yet).
        down_since: ``time.time()`` of the first failure of the current outage.
        failures: Failed tries in the current outage.
        reason: ``"database unavailable"`` (never host, port or driver text) while down.
    """

    ok: bool = True
    down_since: float | None = None
    failures: int = 0
    reason: str | None = None

    def mark_down(self, exc: BaseException) -> None:
        """Record a transient failure (logged once per outage at WARNING; the driver's text at DEBUG)."""
        if self.ok:
            log.warning("database unavailable; the dispatcher keeps its results and retries with backoff")
            self.down_since = time.time()
        log.debug("storage failure: %r (cause: %r)", exc, exc.__cause__)
        self.ok, self.reason = False, "database unavailable"
        self.failures += 1

    def mark_ok(self) -> None:
        """Record that the database answers again."""
        if not self.ok:
            down = time.time() - (self.down_since or time.time())
            log.warning("database back after %.1f s (%d failed tries)", down, self.failures)
        self.ok, self.down_since, self.failures, self.reason = True, None, 0, None


def _waiter(stop: threading.Event) -> Callable[[float], None]:
    """A tenacity ``sleep`` that wakes up early when ``stop`` is set."""

    def _sleep(seconds: float) -> None:
        stop.wait(seconds)

    return _sleep


def step_retrying(
    step: Callable[[], object],
    stop: threading.Event,
    health: StorageHealth,
    initial_s: float = 0.25,
    max_s: float = 10.0,
) -> bool:
    """Run ``step`` once, retrying transient storage errors with jittered exponential backoff until it succeeds.

    Args:
        step: One dispatcher tick.
        stop: Set when the dispatcher is to stop: the retrying ends at once (sleeps wait on it).
        health: Marked down on every transient failure and ok after a successful tick.
        initial_s: First backoff.
        max_s: Largest backoff.

    Returns:
        True when the tick ran; False when ``stop`` was set before it could.

    Raises:
        StorageError: A non-transient storage error (any other exception passes through as well).
    """

    def _note(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            health.mark_down(exc)

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=initial_s, max=max_s),
        stop=lambda _state: stop.is_set(),
        sleep=_waiter(stop),
        before_sleep=_note,
        reraise=True,
    )
    try:
        retrying(step)
    except StorageError as exc:
        if stop.is_set() and is_transient(exc):
            return False
        raise
    return True

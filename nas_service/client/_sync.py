"""The synchronous client: :class:`Client` and the :class:`Job` handle."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx

from nas_service.client import _api
from nas_service.client._errors import NasError, NotFoundError
from nas_service.client._latency import LatencyMixin
from nas_service.client._progress import WaitProgress, is_terminal
from nas_service.client._transport import (
    API_PREFIX,
    RetryPolicy,
    ServerEvent,
    SseDecoder,
    connection_failed,
    decode_response,
    default_headers,
    iter_sse,
    resolve_config,
)


class Client(LatencyMixin):
    """Synchronous client of the nas-service REST API.

    Args:
        url: Controller base URL; default ``NAS_API_URL`` (``http://127.0.0.1:8765``).
        token: Bearer token; default ``NAS_TOKEN``, then the embedded controller's ``<data_dir>/admin-token``.
        timeout: Per-request timeout in seconds.
        retries: Retries after the first attempt, with exponential backoff and jitter, on connection
            errors and 502/503/504 only (never a 4xx; a POST is not resent once it may have reached the
            server).
        transport: An ``httpx`` transport (tests pass ``httpx.MockTransport`` or an ASGI transport).

    Example:
        >>> with Client() as nas:                                      # doctest: +SKIP
        ...     job = nas.submit_job({"strategy": {"name": "random"}}, space="digits")
        ...     final = job.wait()
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = resolve_config(url, token, timeout, retries)
        self.retry_policy = RetryPolicy(retries=self.config.retries)
        self._http = httpx.Client(
            base_url=self.config.url + API_PREFIX,
            headers=default_headers(self.config),
            timeout=timeout,
            transport=transport,
        )

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        """Send one API request (path relative to ``/api/v1``) with retries; return the decoded JSON body.

        Raises:
            NasError: The typed subclass for the failure; :class:`ConnectionFailed` when nothing answered.
        """
        policy = self.retry_policy
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                if attempt < policy.retries and policy.should_retry_exception(exc, method):
                    time.sleep(policy.delay(attempt))
                    attempt += 1
                    continue
                raise connection_failed(exc, self.config.url) from exc
            if attempt < policy.retries and policy.should_retry_status(response.status_code):
                time.sleep(policy.delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            return decode_response(response)

    def _call(self, call: _api.Call) -> Any:
        return call.parse(self.request(call.method, call.path, params=call.params, json=call.body))

    def _paginate(self, call: _api.Call, page_size: int) -> Iterator[Any]:
        offset = 0
        while True:
            params = dict(call.params or {}, limit=page_size, offset=offset)
            page = self.request("GET", call.path, params=params)
            items = page.get("items", [])
            for item in items:
                yield call.parse(item)
            offset += len(items)
            if not items or offset >= int(page.get("total", 0)):
                return

    # ------------------------------------------------------------------ spaces
    def create_space(self, space: Any, name: str | None = None) -> Any:
        """Store a search space.

        Args:
            space: A space model, a dict, or YAML/JSON text.
            name: Its name (default: the definition's ``name``).

        Returns:
            The stored ``SpacePublic``.
        """
        return self._call(_api.create_space(space, name))

    def validate_space(self, space: Any) -> Any:
        """Check a space definition without storing it; returns ``SpaceValidation``."""
        return self._call(_api.validate_space(space))

    def get_space(self, space_id: int) -> Any:
        """One stored space (``SpacePublic``)."""
        return self._call(_api.get_space(space_id))

    def list_spaces(self, *, include_archived: bool = False, page_size: int = 100) -> Iterator[Any]:
        """Every stored space, fetching pages on demand."""
        return self._paginate(_api.list_spaces(include_archived), page_size)

    def archive_space(self, space_id: int) -> Any:
        """Archive a space (jobs can no longer use it); returns the updated ``SpacePublic``."""
        return self._call(_api.archive_space(space_id))

    # ------------------------------------------------------------------ jobs
    def submit_job(self, spec: Any = None, *, space_id: int | None = None, space: Any = None, **fields: Any) -> Job:
        """Submit a search job.

        Args:
            spec: A ``JobSpec``, a dict of its fields, or ``None`` for the defaults; ``fields`` override keys.
            space_id: A stored space to search.
            space: Instead of ``space_id``: a preset name or an inline definition (model, dict, YAML text).

        Returns:
            A :class:`Job` handle.
        """
        return Job(self, self._call(_api.submit_job(spec, space_id, space, fields)))

    def get_job(self, job_id: int) -> Job:
        """A handle on an existing job."""
        return Job(self, self._call(_api.get_job(job_id)))

    def list_jobs(self, state: str | None = None, *, page_size: int = 100) -> Iterator[Any]:
        """Every job (``JobSummary``: no spec), optionally in one state, newest first, fetching pages on demand."""
        return self._paginate(_api.list_jobs(state), page_size)

    def cancel_job(self, job_id: int) -> Any:
        """Cancel a job; returns the updated ``JobPublic`` (``ConflictError`` when already finished)."""
        return self._call(_api.job_action(job_id, "cancel"))

    def resume_job(self, job_id: int) -> Any:
        """Requeue a cancelled or failed job; returns the updated ``JobPublic``."""
        return self._call(_api.job_action(job_id, "resume"))

    # ------------------------------------------------------------------ trials and results
    def trials(
        self,
        job_id: int,
        *,
        state: str | None = None,
        sort: str = "number",
        order: str | None = None,
        page_size: int = 200,
    ) -> Iterator[Any]:
        """A job's trials (``TrialPublic``) sorted by ``number``/``reward``/``accuracy``/``latency``."""
        return self._paginate(_api.trials(job_id, state, sort, order), page_size)

    def get_trial(self, trial_id: int) -> Any:
        """One trial with its epoch reports and latency samples."""
        return self._call(_api.get_trial(trial_id))

    def pareto(
        self,
        job_id: int,
        *,
        target_ms: float | None = None,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> Any:
        """The job's Pareto front (``ParetoPublic``), re-scored with the given T and exponents."""
        return self._call(_api.pareto(job_id, target_ms, alpha, beta))

    def best(
        self,
        job_id: int,
        k: int = 1,
        *,
        target_ms: float | None = None,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> Any:
        """The ``k`` best trials by reward (``BestPublic``), optionally re-scored."""
        return self._call(_api.best(job_id, k, target_ms, alpha, beta))

    def finalize(
        self,
        job_id: int,
        top_k: int = 3,
        *,
        by: str = "reward",
        target_ms: float | None = None,
        epochs: int = 30,
        augment: str | None = None,
        ema_decay: float | None = None,
        proxy: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Any:
        """Stage two: queue a ``final`` job training the ``top_k`` best networks of ``job_id`` (its record);
        ``proxy``: retrain them under the source's proxy with these fields changed instead (a proxy study)."""
        call = _api.finalize_job(
            job_id, top_k, by, target_ms, epochs, augment=augment, ema_decay=ema_decay, proxy=proxy, name=name
        )
        return self._call(call)

    def fidelity(self, job_id: int) -> Any:
        """Proxy fidelity of a final job: Kendall/Spearman of proxy vs final, top-1 agreement, regret."""
        return self._call(_api.fidelity(job_id))

    def scaling(self, job_id: int) -> Any:
        """A compound-scaling job's coefficient grid and phi family (``ScalingPublic``)."""
        return self._call(_api.scaling(job_id))

    def netadapt(self, job_id: int) -> Any:
        """A netadapt job's steps, base and network so far (``NetAdaptPublic``)."""
        return self._call(_api.netadapt(job_id))

    # ------------------------------------------------------------------ events
    def events(
        self, job_id: int, *, last_event_id: str | None = None, read_timeout: float | None = 60.0
    ) -> Iterator[ServerEvent]:
        """Follow a job's server-sent events (``job`` and ``trial`` deltas) until the job ends.

        A dropped stream is reopened with ``Last-Event-ID`` (up to ``retries`` times in a row); the iterator
        ends when the server closes the stream, which it does once the job is finished.

        Raises:
            ConnectionFailed: The stream could not be reopened.
        """
        decoder = SseDecoder(last_event_id)
        failures = 0
        while True:
            try:
                for event in self._stream_once(job_id, decoder, read_timeout):
                    failures = 0
                    yield event
                return
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.retry_policy.retries:
                    raise connection_failed(exc, self.config.url) from exc
                time.sleep(self.retry_policy.delay(failures - 1))

    def _stream_once(
        self, job_id: int, decoder: SseDecoder, read_timeout: float | None
    ) -> Generator[ServerEvent, None, None]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if decoder.last_event_id:
            headers["Last-Event-ID"] = decoder.last_event_id
        timeout = httpx.Timeout(self.config.timeout, read=read_timeout)
        with self._http.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=timeout) as response:
            if not response.is_success:
                response.read()
                decode_response(response)
            yield from iter_sse(response.iter_lines(), decoder)

    # ------------------------------------------------------------------ export
    def download_weights(self, trial_id: int) -> bytes | None:
        """The trial's trained weights file (``weights.pt`` bytes), or ``None`` when the server has none."""
        try:
            response = self._http.get(f"/trials/{trial_id}/weights", headers={"Accept": "application/octet-stream"})
        except httpx.TransportError as exc:
            raise connection_failed(exc, self.config.url) from exc
        if response.status_code == 404:
            return None
        if not response.is_success:
            decode_response(response)
        return response.content

    def export(self, trial_id: int, out_dir: str | Path, format: str = "all") -> dict[str, Path]:  # noqa: A002
        """Export a trial's network locally (see :func:`nas_service.export.export_trial`).

        Fetches the trial's architecture and, when the server has them, its trained weights; without weights
        the untrained network is exported and an ``UntrainedExportWarning`` is issued.

        Args:
            trial_id: The trial.
            out_dir: Output directory (created).
            format: ``json``, ``blocks``, ``torchscript``, ``onnx`` or ``all``.

        Returns:
            Format name to written file.
        """
        architecture = _api.trial_architecture(self.get_trial(trial_id))
        weights = self.download_weights(trial_id)
        prep = self.preprocessing(trial_id) if weights is not None else None
        return _api.export_locally(architecture, weights, out_dir, format, prep)

    def preprocessing(self, trial_id: int) -> Any:
        """What the trial's trained network takes as input (a dict), or ``None`` when the server has no record."""
        try:
            return self._call(_api.preprocessing(trial_id))
        except NotFoundError:
            return None


class Job:
    """A handle on one job: its last snapshot (``info``) plus shortcuts and :meth:`wait`.

    Attribute access falls through to the snapshot, so ``job.state`` or ``job.best_reward`` work directly.
    """

    def __init__(self, client: Client, info: Any) -> None:
        self._client = client
        self.info = info

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "info":
            raise AttributeError(name)
        return getattr(self.info, name)

    def __repr__(self) -> str:
        return f"Job(id={self.info.id!r}, state={self.info.state!s})"

    @property
    def id(self) -> int:
        """The job id."""
        return int(self.info.id)

    def refresh(self) -> Any:
        """Fetch a fresh snapshot (``JobPublic``) and keep it."""
        self.info = self._client._call(_api.get_job(self.id))
        return self.info

    def cancel(self) -> Any:
        """Cancel the job."""
        self.info = self._client.cancel_job(self.id)
        return self.info

    def resume(self) -> Any:
        """Resume a cancelled or failed job."""
        self.info = self._client.resume_job(self.id)
        return self.info

    def trials(self, **kwargs: Any) -> Iterator[Any]:
        """The job's trials (see :meth:`Client.trials`)."""
        return self._client.trials(self.id, **kwargs)

    def pareto(self, **kwargs: Any) -> Any:
        """The job's Pareto front (see :meth:`Client.pareto`)."""
        return self._client.pareto(self.id, **kwargs)

    def best(self, k: int = 1, **kwargs: Any) -> Any:
        """The job's best trials (see :meth:`Client.best`)."""
        return self._client.best(self.id, k, **kwargs)

    def events(self, **kwargs: Any) -> Iterator[ServerEvent]:
        """The job's event stream (see :meth:`Client.events`)."""
        return self._client.events(self.id, **kwargs)

    def wait(self, progress: bool = True, timeout: float | None = None, poll_interval: float = 2.0) -> Any:
        """Block until the job is completed, failed or cancelled; return the final ``JobPublic``.

        Follows the event stream (showing a progress bar on stderr unless ``progress=False``); if the stream
        cannot be opened or drops for good, polls every ``poll_interval`` seconds instead, trying the stream
        again from the last event id after each poll.

        Raises:
            WaitTimeout: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = WaitProgress(progress, self.refresh())
        decoder = SseDecoder()  # keeps the last event id across reconnections
        stream_ok = True
        try:
            while not is_terminal(self.info.state):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise _api.wait_timeout(self.id, timeout)
                if stream_ok:
                    try:
                        read_timeout = 30.0 if remaining is None else max(0.5, min(30.0, remaining))
                        # One connection at a time (no retries inside): a drop or an idle read timeout falls through
                        # to a poll, and the next connection resumes from the last event id.
                        stream = self._client._stream_once(self.id, decoder, read_timeout)
                        with contextlib.closing(stream):  # closes the connection on an early break
                            for event in stream:
                                if _api.apply_event(self, event):
                                    bar.update(self.info)
                                if deadline is not None and time.monotonic() > deadline:
                                    break
                    except NotFoundError:
                        self.refresh()  # the job itself is gone: raises; otherwise no stream endpoint
                        stream_ok = False
                    except NasError as exc:
                        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                            stream_ok = False
                    except httpx.TransportError:
                        pass
                self.refresh()
                bar.update(self.info)
                if not is_terminal(self.info.state):
                    pause = poll_interval
                    if deadline is not None:
                        pause = min(pause, max(0.0, deadline - time.monotonic()))
                    time.sleep(pause)
        finally:
            bar.close()
        return self.info

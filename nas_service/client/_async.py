"""The asyncio client: :class:`AsyncClient` and :class:`AsyncJob`, the same surface as the sync ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from nas_service.client import _api
from nas_service.client._errors import NasError, NotFoundError
from nas_service.client._latency import AsyncLatencyMixin
from nas_service.client._progress import WaitProgress, is_terminal
from nas_service.client._transport import (
    API_PREFIX,
    RetryPolicy,
    ServerEvent,
    SseDecoder,
    connection_failed,
    decode_response,
    default_headers,
    resolve_config,
)


class AsyncClient(AsyncLatencyMixin):
    """Asynchronous client of the nas-service REST API; every method of :class:`~nas_service.client.Client`
    is here as a coroutine, and the iterators are async iterators.

    Args:
        url: Controller base URL; default ``NAS_API_URL``.
        token: Bearer token; default ``NAS_TOKEN``, then ``<data_dir>/admin-token``.
        timeout: Per-request timeout in seconds.
        retries: Retries on connection errors and 502/503/504 (never on a 4xx).
        transport: An ``httpx`` async transport (tests pass ``httpx.ASGITransport``).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = resolve_config(url, token, timeout, retries)
        self.retry_policy = RetryPolicy(retries=self.config.retries)
        self._http = httpx.AsyncClient(
            base_url=self.config.url + API_PREFIX,
            headers=default_headers(self.config),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        """Send one API request with retries; return the decoded JSON body (see ``Client.request``)."""
        policy = self.retry_policy
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                if attempt < policy.retries and policy.should_retry_exception(exc, method):
                    await asyncio.sleep(policy.delay(attempt))
                    attempt += 1
                    continue
                raise connection_failed(exc, self.config.url) from exc
            if attempt < policy.retries and policy.should_retry_status(response.status_code):
                await asyncio.sleep(policy.delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            return decode_response(response)

    async def _call(self, call: _api.Call) -> Any:
        return call.parse(await self.request(call.method, call.path, params=call.params, json=call.body))

    async def _paginate(self, call: _api.Call, page_size: int) -> AsyncIterator[Any]:
        offset = 0
        while True:
            params = dict(call.params or {}, limit=page_size, offset=offset)
            page = await self.request("GET", call.path, params=params)
            items = page.get("items", [])
            for item in items:
                yield call.parse(item)
            offset += len(items)
            if not items or offset >= int(page.get("total", 0)):
                return

    # ------------------------------------------------------------------ spaces
    async def create_space(self, space: Any, name: str | None = None) -> Any:
        """Store a search space (model, dict or YAML text); returns ``SpacePublic``."""
        return await self._call(_api.create_space(space, name))

    async def validate_space(self, space: Any) -> Any:
        """Check a space definition without storing it; returns ``SpaceValidation``."""
        return await self._call(_api.validate_space(space))

    async def get_space(self, space_id: int) -> Any:
        """One stored space."""
        return await self._call(_api.get_space(space_id))

    def list_spaces(self, *, include_archived: bool = False, page_size: int = 100) -> AsyncIterator[Any]:
        """Every stored space, fetching pages on demand."""
        return self._paginate(_api.list_spaces(include_archived), page_size)

    async def archive_space(self, space_id: int) -> Any:
        """Archive a space."""
        return await self._call(_api.archive_space(space_id))

    # ------------------------------------------------------------------ jobs
    async def submit_job(
        self, spec: Any = None, *, space_id: int | None = None, space: Any = None, **fields: Any
    ) -> AsyncJob:
        """Submit a search job (see ``Client.submit_job``); returns an :class:`AsyncJob`."""
        return AsyncJob(self, await self._call(_api.submit_job(spec, space_id, space, fields)))

    async def get_job(self, job_id: int) -> AsyncJob:
        """A handle on an existing job."""
        return AsyncJob(self, await self._call(_api.get_job(job_id)))

    def list_jobs(self, state: str | None = None, *, page_size: int = 100) -> AsyncIterator[Any]:
        """Every job, optionally in one state, fetching pages on demand."""
        return self._paginate(_api.list_jobs(state), page_size)

    async def cancel_job(self, job_id: int) -> Any:
        """Cancel a job."""
        return await self._call(_api.job_action(job_id, "cancel"))

    async def resume_job(self, job_id: int) -> Any:
        """Resume a cancelled or failed job."""
        return await self._call(_api.job_action(job_id, "resume"))

    # ------------------------------------------------------------------ trials and results
    def trials(
        self,
        job_id: int,
        *,
        state: str | None = None,
        sort: str = "number",
        order: str | None = None,
        page_size: int = 200,
    ) -> AsyncIterator[Any]:
        """A job's trials, fetching pages on demand."""
        return self._paginate(_api.trials(job_id, state, sort, order), page_size)

    async def get_trial(self, trial_id: int) -> Any:
        """One trial with epochs and latency samples."""
        return await self._call(_api.get_trial(trial_id))

    async def pareto(
        self,
        job_id: int,
        *,
        target_ms: float | None = None,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> Any:
        """The job's Pareto front, optionally re-scored."""
        return await self._call(_api.pareto(job_id, target_ms, alpha, beta))

    async def best(
        self,
        job_id: int,
        k: int = 1,
        *,
        target_ms: float | None = None,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> Any:
        """The ``k`` best trials by reward."""
        return await self._call(_api.best(job_id, k, target_ms, alpha, beta))

    async def finalize(
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
        return await self._call(call)

    async def fidelity(self, job_id: int) -> Any:
        """Proxy fidelity of a final job: Kendall/Spearman of proxy vs final, top-1 agreement, regret."""
        return await self._call(_api.fidelity(job_id))

    async def scaling(self, job_id: int) -> Any:
        """A compound-scaling job's coefficient grid and phi family."""
        return await self._call(_api.scaling(job_id))

    async def netadapt(self, job_id: int) -> Any:
        """A netadapt job's steps, base and network so far (``NetAdaptPublic``)."""
        return await self._call(_api.netadapt(job_id))

    # ------------------------------------------------------------------ events
    async def events(
        self, job_id: int, *, last_event_id: str | None = None, read_timeout: float | None = 60.0
    ) -> AsyncIterator[ServerEvent]:
        """Follow a job's server-sent events until the job ends, reconnecting with ``Last-Event-ID``."""
        decoder = SseDecoder(last_event_id)
        failures = 0
        while True:
            try:
                async for event in self._stream_once(job_id, decoder, read_timeout):
                    failures = 0
                    yield event
                return
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.retry_policy.retries:
                    raise connection_failed(exc, self.config.url) from exc
                await asyncio.sleep(self.retry_policy.delay(failures - 1))

    async def _stream_once(
        self, job_id: int, decoder: SseDecoder, read_timeout: float | None
    ) -> AsyncGenerator[ServerEvent, None]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if decoder.last_event_id:
            headers["Last-Event-ID"] = decoder.last_event_id
        timeout = httpx.Timeout(self.config.timeout, read=read_timeout)
        async with self._http.stream("GET", f"/jobs/{job_id}/events", headers=headers, timeout=timeout) as response:
            if not response.is_success:
                await response.aread()
                decode_response(response)
            async for line in response.aiter_lines():
                event = decoder.feed(line.rstrip("\r"))
                if event is not None:
                    yield event

    # ------------------------------------------------------------------ export
    async def download_weights(self, trial_id: int) -> bytes | None:
        """The trial's trained weights (``weights.pt`` bytes), or ``None`` when the server has none."""
        try:
            response = await self._http.get(
                f"/trials/{trial_id}/weights", headers={"Accept": "application/octet-stream"}
            )
        except httpx.TransportError as exc:
            raise connection_failed(exc, self.config.url) from exc
        if response.status_code == 404:
            return None
        if not response.is_success:
            decode_response(response)
        return response.content

    async def export(self, trial_id: int, out_dir: str | Path, format: str = "all") -> dict[str, Path]:  # noqa: A002
        """Export a trial's network locally (the torch work runs in a thread)."""
        architecture = _api.trial_architecture(await self.get_trial(trial_id))
        weights = await self.download_weights(trial_id)
        prep = await self.preprocessing(trial_id) if weights is not None else None
        return await asyncio.to_thread(_api.export_locally, architecture, weights, out_dir, format, prep)

    async def preprocessing(self, trial_id: int) -> Any:
        """What the trial's trained network takes as input (a dict), or ``None`` when the server has no record."""
        try:
            return await self._call(_api.preprocessing(trial_id))
        except NotFoundError:
            return None


class AsyncJob:
    """A handle on one job for :class:`AsyncClient`; attribute access falls through to ``info``."""

    def __init__(self, client: AsyncClient, info: Any) -> None:
        self._client = client
        self.info = info

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "info":
            raise AttributeError(name)
        return getattr(self.info, name)

    def __repr__(self) -> str:
        return f"AsyncJob(id={self.info.id!r}, state={self.info.state!s})"

    @property
    def id(self) -> int:
        """The job id."""
        return int(self.info.id)

    async def refresh(self) -> Any:
        """Fetch a fresh snapshot and keep it."""
        self.info = await self._client._call(_api.get_job(self.id))
        return self.info

    async def cancel(self) -> Any:
        """Cancel the job."""
        self.info = await self._client.cancel_job(self.id)
        return self.info

    async def resume(self) -> Any:
        """Resume a cancelled or failed job."""
        self.info = await self._client.resume_job(self.id)
        return self.info

    def trials(self, **kwargs: Any) -> AsyncIterator[Any]:
        """The job's trials."""
        return self._client.trials(self.id, **kwargs)

    async def pareto(self, **kwargs: Any) -> Any:
        """The job's Pareto front."""
        return await self._client.pareto(self.id, **kwargs)

    async def best(self, k: int = 1, **kwargs: Any) -> Any:
        """The job's best trials."""
        return await self._client.best(self.id, k, **kwargs)

    def events(self, **kwargs: Any) -> AsyncIterator[ServerEvent]:
        """The job's event stream."""
        return self._client.events(self.id, **kwargs)

    async def wait(self, progress: bool = True, timeout: float | None = None, poll_interval: float = 2.0) -> Any:
        """Wait until the job is finished and return the final ``JobPublic`` (see ``Job.wait``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = WaitProgress(progress, await self.refresh())
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
                        async with contextlib.aclosing(stream):  # closes the connection on an early break
                            async for event in stream:
                                if _api.apply_event(self, event):
                                    bar.update(self.info)
                                if deadline is not None and time.monotonic() > deadline:
                                    break
                    except NotFoundError:
                        await self.refresh()
                        stream_ok = False
                    except NasError as exc:
                        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                            stream_ok = False
                    except httpx.TransportError:
                        pass
                await self.refresh()
                bar.update(self.info)
                if not is_terminal(self.info.state):
                    pause = poll_interval
                    if deadline is not None:
                        pause = min(pause, max(0.0, deadline - time.monotonic()))
                    await asyncio.sleep(pause)
        finally:
            bar.close()
        return self.info

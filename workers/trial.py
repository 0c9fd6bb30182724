"""One trial attempt: build the candidate, train it on the proxy task, measure its latency, score it.

:func:`run_trial` is what a Ray task (or a test, or ``nas`` in-process) runs. It never raises for a problem of
the trial itself: any exception becomes ``TrialResult(state=failed, error=...)`` with a short traceback tail,
so the controller can tell a failed candidate (recorded, not retried) from a lost worker (retried). Progress
goes through a :class:`TrialReporter`: epoch reports, heartbeats and the stop flag (pruning or cancel).

:func:`run_trial_detailed` returns the same result plus what the controller's caches and the benchmarks need:
the reward, per-phase timings (``data``, ``build``, ``train``, ``latency``, ``report``, ``other``), training
throughput, the latency cache key and the trained weights.

The payload's architecture is the network *as trained* (the dispatcher fixes its resolution, classes and
channels before it checks caps and de-duplicates): the worker trains and measures latency at its resolution.
A completed or pruned trial returns its ``state_dict`` as ``torch.save`` bytes (up to
:data:`MAX_WEIGHTS_BYTES`), which the dispatcher stores for ``nas export``.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import torch

from nas_service.errors import public_error_text
from nas_service.jobspec import (
    EpochReport,
    LatencyMeasurement,
    TrialResult,
    TrialState,
)
from nas_service.latency.gate import with_prediction
from nas_service.orchestration.executor import TrialPayload, TrialRun

__all__ = [
    "MAX_WEIGHTS_BYTES",
    "NullReporter",
    "TrialPayload",
    "TrialReporter",
    "TrialRun",
    "noop_trial",
    "run_trial",
    "run_trial_detailed",
    "serialize_weights",
    "worker_identity",
]

#: Trained weights larger than this are not sent back (a proxy network is far smaller; this guards the channel).
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)


@runtime_checkable
class TrialReporter(Protocol):
    """Where a running trial sends progress and asks whether to stop.

    ``heartbeat`` is called after every training batch and ``should_stop`` after every batch and epoch:
    implementations that talk to a remote process rate-limit themselves. A reporter may also have an optional
    ``latency(measurement: LatencyMeasurement)`` method: it is called once, before training, with the
    candidate's latency (a multi-fidelity pruner ranks by it), and an optional ``checkpoint(epoch, data)``
    method that a stage-two training calls after every epoch with the checkpoint bytes to store.
    """

    def epoch(self, report: EpochReport) -> None:
        """Record one epoch's validation result."""

    def heartbeat(self) -> None:
        """Signal that the trial is alive."""

    def should_stop(self) -> bool | str:
        """Falsy to go on; ``"cancelled"`` for a cancel; any other truthy value to prune."""


class NullReporter:
    """A reporter that records epochs (and the latency) in memory and never stops (local runs, tests)."""

    def __init__(self) -> None:
        self.epochs: list[EpochReport] = []
        self.heartbeats = 0
        self.measured: LatencyMeasurement | None = None

    def latency(self, measurement: LatencyMeasurement) -> None:
        """Keep the latency measured before training."""
        self.measured = measurement

    def epoch(self, report: EpochReport) -> None:
        """Keep the report."""
        self.epochs.append(report)

    def heartbeat(self) -> None:
        """Count the heartbeat."""
        self.heartbeats += 1

    def should_stop(self) -> bool | str:
        """Never stop."""
        return False


class _TimedReporter:
    """Wraps a reporter and adds up the time spent in it (the ``report`` phase)."""

    def __init__(self, inner: TrialReporter) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t0

    def epoch(self, report: EpochReport) -> None:
        self._timed(self.inner.epoch, report)

    def heartbeat(self) -> None:
        self._timed(self.inner.heartbeat)

    def should_stop(self) -> bool | str:
        answer: bool | str = self._timed(self.inner.should_stop)
        return answer

    def latency(self, measurement: LatencyMeasurement) -> None:
        hook = getattr(self.inner, "latency", None)
        if hook is not None:
            self._timed(hook, measurement)

    def checkpoint(self, epoch: int, data: bytes) -> None:
        hook = getattr(self.inner, "checkpoint", None)
        if hook is not None:
            self._timed(hook, epoch, data)


def worker_identity() -> tuple[str, str]:
    """``(node, worker)``: ``"<node ip>/<ray node id>"`` in Ray (else the host name), ``"<host>:<pid>"``."""
    host = socket.gethostname()
    node = host
    if "ray" in sys.modules:  # never import ray just to ask
        import ray

        if ray.is_initialized():
            node = f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()}"
    return node[:200], f"{host}:{os.getpid()}"[:200]


def format_error(exc: BaseException) -> str:
    """The trial's user-visible error: ``"Type: message (error id ...)"``; the traceback goes to this worker's log.

    See :mod:`nas_service.errors`: a traceback names server paths and files, so users never see it.
    """
    return public_error_text(exc, "trial", log)


class _Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def serialize_weights(model: torch.nn.Module, limit: int = MAX_WEIGHTS_BYTES) -> bytes | None:
    """``torch.save`` bytes of ``model``'s ``state_dict`` as contiguous CPU tensors; ``None`` above ``limit``."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    size = sum(t.numel() * t.element_size() for t in state.values())
    if size > limit:
        log.info("trained weights not kept: %d bytes is over the %d byte limit", size, limit)
        return None
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    if len(data) > limit:
        log.info("trained weights not kept: %d bytes is over the %d byte limit", len(data), limit)
        return None
    return data


def run_trial(payload: TrialPayload, reporter: TrialReporter) -> TrialResult:
    """Run one trial attempt and return its result (see :func:`run_trial_detailed`)."""
    return run_trial_detailed(payload, reporter).result


def run_trial_detailed(payload: TrialPayload, reporter: TrialReporter) -> TrialRun:
    """Run one trial attempt: data, build, train, latency, reward.

    Args:
        payload: The trial to run.
        reporter: Receives epochs and heartbeats; its stop flag prunes or cancels.

    Returns:
        The result (``completed``, ``pruned``, ``cancelled`` or ``failed`` with the error) and its details.
    """
    # Imported here: the builder, profiler and reward are only needed inside a worker.
    from nas_service.arch.builder import build_model
    from nas_service.arch.profile import count_macs, count_params
    from nas_service.latency.slot import wait_while_measuring
    from nas_service.reward import mnasnet_reward
    from workers.data import load_dataset
    from workers.latency import cache_applies, describe_device, latency_cache_key, measure_for_trial, runtime_key
    from workers.train import resolve_device, train_proxy

    wall0 = time.perf_counter()
    phase = _Phases()
    timed = _TimedReporter(reporter)
    node, worker = worker_identity()
    # The data at the resolution of the network as trained (the dataset cache keys on it).
    proxy = payload.proxy.model_copy(update={"resolution": payload.architecture.resolution})
    fields: dict[str, Any] = {"node": node, "worker": worker}
    run = TrialRun(result=TrialResult(state=TrialState.FAILED))
    train_report_s = 0.0
    try:
        # A reused Ray worker keeps the thread count of its previous task.
        torch.set_num_threads(proxy.threads)
        timed.heartbeat()
        fields["device"] = describe_device(resolve_device(proxy.device))
        with phase("data"):
            data = load_dataset(proxy)
        with phase("build"):
            # The dispatcher already set classes and channels from the data's signature; this only guards
            # against a mismatch (the result then reports what was really trained).
            as_data = {"num_classes": data.num_classes, "in_channels": data.in_channels}
            arch = payload.architecture.model_copy(update=as_data)
            run.measured_arch_hash = arch.arch_hash()
            fields["params"] = int(count_params(arch))
            fields["macs"] = int(count_macs(arch, arch.resolution))
            torch.manual_seed(proxy.seed)
            model = build_model(arch)
            if payload.init_weights:
                _inherit(model, payload.init_weights)
        run.input_shape = list(data.input_shape)
        run.num_classes = data.num_classes
        run.preprocessing = {
            "input_shape": list(data.input_shape),
            "channel_order": "gray" if data.in_channels == 1 else "RGB",
            "mean": list(data.mean),
            "std": list(data.std),
        }
        # Latency first: it does not depend on the weights, pruned trials keep it, and a multi-objective
        # pruner ranks by it from the first rung on.
        with phase("latency"):
            latency = payload.cached_latency
            if latency is None or not cache_applies(latency, payload.latency):
                reference = None
                if payload.reference_architecture is not None:  # a NetAdapt proposal: its parent, timed alongside
                    reference = build_model(payload.reference_architecture.model_copy(update=as_data))
                latency = measure_for_trial(
                    model, arch.model_dump_json(), data.input_shape, payload.latency, node, reference
                )
                if latency.stable is not False:  # the cross-job cache keeps only stable measurements
                    run.latency_key = latency_cache_key(
                        run.measured_arch_hash, data.input_shape, latency.device, payload.latency
                    )
                    run.latency_runtime = runtime_key(latency.device, payload.latency)
            latency = with_prediction(latency, payload.predicted_latency)
        fields["latency"] = latency
        timed.latency(latency)
        with phase("train"):
            before = timed.seconds

            def on_step() -> None:
                wait_while_measuring()  # another trial on this node is measuring: keep its cores quiet
                timed.heartbeat()

            outcome = train_proxy(
                model,
                data,
                proxy,
                on_epoch=timed.epoch,
                should_stop=timed.should_stop,
                on_step=on_step,
                **_final_options(payload, timed),
            )
            train_report_s = timed.seconds - before
        run.images_per_second = outcome.images_per_second
        # A final (stage-two) training is judged on the held-out test split; a proxy trial on validation.
        accuracy = outcome.test_accuracy if payload.final is not None else outcome.val_accuracy
        fields.update(accuracy=accuracy, epochs_run=outcome.epochs_run, train_seconds=outcome.train_seconds)
        if outcome.status in ("completed", "pruned"):
            run.weights = serialize_weights(model)
        if outcome.status != "completed":
            fields["state"] = TrialState(outcome.status)
        else:
            fields["state"] = TrialState.COMPLETED
            if accuracy is not None:
                run.reward = float(
                    mnasnet_reward(
                        accuracy,
                        latency.median_ms,
                        payload.reward.target_ms,
                        payload.reward.alpha if payload.reward.alpha is not None else -0.07,
                        payload.reward.beta if payload.reward.beta is not None else -0.07,
                    )
                )
    except Exception as exc:  # noqa: BLE001 - a trial's own error is its result, never the worker's crash
        fields.update(state=TrialState.FAILED, error=format_error(exc))
    wall = time.perf_counter() - wall0
    if "reward" in TrialResult.model_fields:  # forward-compatible with a contract that stores the reward
        fields["reward"] = run.reward
    run.result = TrialResult(wall_seconds=wall, **fields)
    seconds = phase.seconds
    if "train" in seconds:
        seconds["train"] -= train_report_s
    seconds["report"] = timed.seconds
    seconds["other"] = max(0.0, wall - sum(seconds.values()))
    run.phases = seconds
    return run


def _inherit(model: torch.nn.Module, encoded: str) -> None:
    """Start ``model`` from a parent's weights (a NetAdapt proposal), where shapes allow."""
    import base64

    from nas_service.arch.inherit import inherit_weights

    state = torch.load(io.BytesIO(base64.b64decode(encoded)), map_location="cpu", weights_only=True)
    report = inherit_weights(model, state)
    log.info("inherited %d tensors (%d sliced), %d fresh", report.inherited, report.sliced, report.fresh)


def _final_options(payload: TrialPayload, reporter: _TimedReporter) -> dict[str, Any]:
    """``train_proxy``'s recipe, resume and checkpoint arguments for a final job's attempt (none otherwise)."""
    if payload.final is None:
        return {}
    import base64

    from workers.train import decode_checkpoint, encode_checkpoint, recipe_for

    options: dict[str, Any] = {
        "recipe": recipe_for(payload.final, payload.proxy.dataset, payload.architecture.resolution),
        "on_checkpoint": lambda ckpt: reporter.checkpoint(ckpt.epoch, encode_checkpoint(ckpt)),
    }
    if payload.resume_checkpoint:
        options["resume"] = decode_checkpoint(base64.b64decode(payload.resume_checkpoint))
    return options


def noop_trial(payload: TrialPayload, reporter: TrialReporter) -> TrialRun:
    """A trial that only heartbeats and completes: measures the execution layer's own overhead."""
    t0 = time.perf_counter()
    reporter.heartbeat()
    node, worker = worker_identity()
    wall = time.perf_counter() - t0
    result = TrialResult(state=TrialState.COMPLETED, epochs_run=0, wall_seconds=wall, node=node, worker=worker)
    return TrialRun(result=result, phases={"other": wall})

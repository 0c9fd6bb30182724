"""What a trial attempt is sent, and what the dispatcher learns from results to send better ones.

:class:`Payloads` builds an attempt's payload (the network as trained, the proxy task, the latency settings,
the job's reward) and adds what saves work:

* a **cached latency** when this network was measured before on the same kind of worker
  (:mod:`~nas_service.orchestration.latency_cache`; a detector's through
  :func:`~nas_service.orchestration.detection.detection_cached_latency`);
* the job target's **predicted latency** (``latency.mode`` ``predict`` / ``predict-then-measure``,
  :mod:`nas_service.latency.gate`): in ``predict`` mode it stands in for the measurement;
* a retried stage-two attempt's last **checkpoint** (it continues);
* a NetAdapt proposal's parent weights and reference network (:mod:`~nas_service.orchestration.netadapt`), and
  for a final job made ``by: netadapt`` the kept network's weights (stage two fine-tunes it, as NetAdapt does).

From every finished attempt it learns (:meth:`Payloads.learn`) the proxy data's ``(classes, channels)`` (when
the dispatcher could not read the data itself) and which device and runtime measured a job's resources, which
is what the cross-job latency cache is keyed by. It also stores the fresh measurement in that cache and lets the
target's predictor learn from it.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyMeasurement, TrialResult
from nas_service.latency.gate import learn_from_trial, predicted_latency
from nas_service.orchestration.detection import (
    DETECTION_RUNNER,
    detection_cached_latency,
    detection_payload,
    is_detection,
    stored_architecture,
)
from nas_service.orchestration.executor import TrialPayload, TrialRun
from nas_service.orchestration.jobrun import JobRun
from nas_service.orchestration.latency_cache import cached_latency
from nas_service.orchestration.netadapt import netadapt_training
from nas_service.orchestration.placement import AnyArchitecture, as_trained
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import TrialRecord

__all__ = ["Payloads", "resources_key"]

log = logging.getLogger(__name__)

#: The runner of a classifier's attempt (the executor's default).
TRAIN_RUNNER = "train"


def resources_key(resources: dict[str, float]) -> str:
    """A stable text key of a job's ``resources`` (workers with the same resources measure alike)."""
    return ",".join(f"{k}={v:g}" for k, v in sorted(resources.items()))


class Payloads:
    """Builds attempts' payloads for one dispatcher (module docstring).

    Args:
        storage: The controller's storage (the latency cache, predictors, checkpoints, NetAdapt parents).
        data_dir: The controller's data directory (the artifact store).
    """

    def __init__(self, storage: BaseStorage, data_dir: Path) -> None:
        self.storage = storage
        self.data_dir = data_dir
        self._data_shapes: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._measured_by: dict[str, tuple[str, str]] = {}  # resources key -> (device, runtime key)

    def signature(self, run: JobRun) -> tuple[int, int] | None:
        """``(classes, channels)`` of the job's proxy data: read by the dispatcher, else learned from a result,
        else unknown."""
        if run.data_signature is not None:
            return run.data_signature
        proxy = run.job.spec.proxy
        return self._data_shapes.get((proxy.dataset, proxy.data_path))

    def payload(
        self, run: JobRun, trial: TrialRecord, arch: AnyArchitecture | None = None
    ) -> tuple[TrialPayload, str, str]:
        """The payload of ``trial``'s current attempt, the runner to run it and the network's hash.

        Args:
            run: The trial's job.
            trial: The trial (its ``attempts`` is the attempt number).
            arch: Its network as trained (default: read back from the trial row).
        """
        spec = run.job.spec
        if arch is None:
            if trial.architecture is None:
                raise ValueError(f"trial {trial.id} has no architecture")
            # Stored as trained already; mapped again for trials stored before the data shape was known.
            arch = as_trained(stored_architecture(trial.architecture), run, self.signature(run))
        if isinstance(arch, DetectionArchitecture):
            measured_by = self._measured_by.get(resources_key(spec.resources))
            cached = None
            if measured_by is not None:
                cached = detection_cached_latency(self.storage, arch, spec.latency, *measured_by)
            detection = detection_payload(run, trial.id, trial.attempts, arch, cached)
            return detection, DETECTION_RUNNER, arch.arch_hash()  # type: ignore[return-value]
        proxy = spec.proxy.model_copy(update={"resolution": arch.resolution})
        init_weights, reference = None, None
        if run.job.kind == "netadapt":
            proxy, init_weights, reference = netadapt_training(self.storage, self.data_dir, run, trial, proxy)
        final = spec.final if spec.final is not None and spec.final.recipe == "final" else None  # else a proxy
        if final is not None and final.by == "netadapt":
            init_weights = self._kept_weights(run, trial)
        # A paired measurement (the parent beside it) is taken afresh, never from the cache.
        cached_ms = self._cached_latency(run, arch) if reference is None else None
        predicted = predicted_latency(self.storage, spec, arch)
        if spec.latency.mode == "predict" and predicted is not None:
            cached_ms = predicted  # the worker measures nothing: the prediction is the trial's latency
        payload = TrialPayload(
            trial_id=trial.id,
            job_id=run.job.id,
            attempt=trial.attempts,
            architecture=arch,
            proxy=proxy,
            latency=spec.latency,
            reward=spec.reward,
            cached_latency=cached_ms,
            predicted_latency=predicted,
            final=final,
            resume_checkpoint=self._resume_checkpoint(run, trial) if final is not None else None,
            init_weights=init_weights,
            reference_architecture=reference,
        )
        return payload, TRAIN_RUNNER, arch.arch_hash()

    def learn(
        self, run: JobRun, result: TrialResult, detail: TrialRun | None, architecture: dict[str, object] | None
    ) -> None:
        """What a finished attempt of ``run`` teaches: its data's shape, which device and runtime measured the
        job's resources; a fresh measurement goes to the cross-job cache and to the target's predictor.

        Args:
            run: The attempt's job.
            result: The stored result.
            detail: The numbers around it (``None`` for an attempt that never ran).
            architecture: The trial's stored network (as trained).
        """
        if detail is None:
            return
        detection = is_detection(run.job.spec)
        if detail.num_classes and detail.input_shape and not detection:
            proxy = run.job.spec.proxy
            self._data_shapes[(proxy.dataset, proxy.data_path)] = (detail.num_classes, detail.input_shape[0])
        if result.latency is None or not detail.latency_runtime:
            return  # nothing measured here (a cached or predicted latency)
        self._measured_by[resources_key(run.job.spec.resources)] = (result.latency.device, detail.latency_runtime)
        if detail.latency_key and detail.measured_arch_hash and detail.input_shape:
            self.storage.put_latency(
                detail.latency_key, detail.measured_arch_hash, detail.input_shape, detail.latency_runtime,
                result.latency,
            )  # fmt: skip
        if not detection:  # the job's target predictor learns from every stable measurement
            learn_from_trial(
                self.storage, run.job.spec, architecture, detail.input_shape, detail.num_classes, result.latency
            )

    def _cached_latency(self, run: JobRun, arch: Architecture) -> LatencyMeasurement | None:
        spec = run.job.spec
        shape = self.signature(run)
        measured_by = self._measured_by.get(resources_key(spec.resources))
        if shape is None or measured_by is None:
            return None
        device, runtime = measured_by
        return cached_latency(self.storage, arch, arch.resolution, spec.latency, shape, device, runtime)

    def _kept_weights(self, run: JobRun, trial: TrialRecord) -> str | None:
        """Base64 of the stored weights of the network a netadapt job kept, which its final job continues from
        (NetAdapt's long fine-tune); ``None`` (from scratch, logged) when they are missing."""
        from nas_service.artifacts import load_trial_weights

        source = (trial.params or {}).get("source_trial")
        weights = load_trial_weights(self.storage, self.data_dir, int(source)) if source is not None else None
        if weights is None:
            log.warning("job %s trial %s: no stored weights of trial %s; it trains from scratch",
                        run.job.id, trial.id, source)  # fmt: skip
            return None
        return base64.b64encode(weights).decode("ascii")

    def _resume_checkpoint(self, run: JobRun, trial: TrialRecord) -> str | None:
        """Base64 of the last checkpoint of a retried stage-two attempt (it continues; ``None`` otherwise)."""
        if run.job.spec.final is None or trial.attempts <= 1:
            return None
        from nas_service.artifacts import load_trial_checkpoint

        data = load_trial_checkpoint(self.storage, self.data_dir, trial.id)
        return base64.b64encode(data).decode("ascii") if data else None

"""Placing a candidate: the network as trained, the job's caps, de-duplication, then a trial.

Every candidate is first turned into the network *as trained* (:func:`as_trained`): the proxy data's classes
and channels, and the proxy resolution unless the job searches resolution. Caps, de-duplication, the stored
architecture and its params/MACs and the worker's payload all use that network. Then exactly one trial row is
written for the suggestion, carrying its id and memo in the same transaction:

* over the job's caps: ``rejected`` (told so at once);
* its network already completed in this job: ``duplicate`` with the earlier result (told at once);
* its network is training right now in this job: ``duplicate`` without values (told at once);
* otherwise a trial created already claimed (attempt 1, ``running``), returned for submission.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture
from nas_service.jobspec import ConstraintsConfig, LatencyMeasurement, TrialResult, TrialState
from nas_service.orchestration.jobrun import JobRun
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import TrialRecord
from nas_service.strategies.base import Outcome, Suggestion

__all__ = ["AnyArchitecture", "Cost", "as_trained", "over_caps", "place"]

#: What a trial trains: a classifier, or a detector (``task: detection``).
AnyArchitecture = Architecture | DetectionArchitecture


@dataclass(frozen=True)
class Cost:
    """A network's size as the caps judge it."""

    params: int
    macs: int


def as_trained(arch: AnyArchitecture, run: JobRun, signature: tuple[int, int] | None) -> AnyArchitecture:
    """The network a worker trains for ``arch``: the proxy's data shape, and its resolution unless searched.

    Idempotent, so a stored (already as-trained) architecture maps to itself. A detector is mapped by
    :func:`~nas_service.orchestration.detection.detection_as_trained`.

    Args:
        arch: The candidate.
        run: Its job (proxy resolution, whether resolution is searched).
        signature: ``(classes, channels)`` of the proxy data, when known.
    """
    if isinstance(arch, DetectionArchitecture):
        from nas_service.orchestration.detection import detection_as_trained

        return detection_as_trained(arch, run)
    update: dict[str, int] = {}
    if not run.searches_resolution:
        update["resolution"] = run.job.spec.proxy.resolution
    if signature is not None:
        update["num_classes"], update["in_channels"] = signature
    return arch.model_copy(update=update) if update else arch


def cost_of(arch: AnyArchitecture) -> Cost:
    """Parameters and MACs of ``arch`` at its own resolution."""
    if isinstance(arch, DetectionArchitecture):
        from nas_service.orchestration.detection import detection_cost

        return detection_cost(arch)
    from nas_service.arch.profile import count_macs, count_params

    return Cost(params=count_params(arch), macs=count_macs(arch, arch.resolution))


def over_caps(cost: Cost, caps: ConstraintsConfig) -> list[str]:
    """Which of the job's caps ``cost`` exceeds (empty when none), each as ``"params N > max_params M"``."""
    over = []
    if caps.max_params is not None and cost.params > caps.max_params:
        over.append(f"params {cost.params} > max_params {caps.max_params}")
    if caps.max_macs is not None and cost.macs > caps.max_macs:
        over.append(f"MACs {cost.macs} > max_macs {caps.max_macs}")
    return over


def place(
    storage: BaseStorage, run: JobRun, suggestion: Suggestion, arch: AnyArchitecture, claimer: str
) -> TrialRecord | None:
    """Write the one trial row of ``suggestion`` (module docstring); the trial to submit, or ``None``.

    Args:
        storage: The controller's storage.
        run: The job.
        suggestion: The strategy's candidate.
        arch: Its network as trained (:func:`as_trained`).
        claimer: The dispatcher's claim name (a trial to train is created claimed by it).
    """
    job_id = run.job.id
    sid, memo = suggestion.suggestion_id, suggestion.memo
    cost = cost_of(arch)
    over = over_caps(cost, run.job.spec.constraints)
    if isinstance(arch, Architecture):  # latency.mode predict-then-measure: predicted far over T is not trained
        from nas_service.latency.gate import predicted_over

        over += predicted_over(storage, run.job.spec, arch)
    if over:
        storage.create_trial(
            job_id, suggestion.params, arch, state=TrialState.REJECTED, params_count=cost.params, macs=cost.macs,
            error="over the job's caps: " + "; ".join(over), suggestion_id=sid, suggestion_memo=memo,
        )  # fmt: skip
        _told(run, sid, Outcome(state="rejected", params=cost.params, macs=cost.macs))
        return None
    arch_hash = arch.arch_hash()
    earlier = storage.find_completed_trial(job_id, arch_hash)
    if earlier is not None:
        latency = LatencyMeasurement.model_validate(earlier.latency) if earlier.latency else None
        result = TrialResult(
            state=TrialState.DUPLICATE, accuracy=earlier.accuracy, latency=latency, params=earlier.params_count,
            macs=earlier.macs, epochs_run=earlier.epochs_run, error=f"duplicate of trial #{earlier.number}",
        )  # fmt: skip
        trial = storage.create_trial(
            job_id, suggestion.params, arch, params_count=cost.params, macs=cost.macs, suggestion_id=sid,
            suggestion_memo=memo,
        )  # fmt: skip
        storage.report_trial(trial.id, 0, result, f"duplicate:{trial.id}")
        duplicate = Outcome(
            state="duplicate", accuracy=earlier.accuracy, latency_ms=earlier.latency_ms, reward=earlier.reward,
            params=earlier.params_count, macs=earlier.macs, epochs=earlier.epochs_run,
        )  # fmt: skip
        _told(run, sid, duplicate)
        return None
    if arch_hash in run.inflight:
        storage.create_trial(
            job_id, suggestion.params, arch, state=TrialState.DUPLICATE, params_count=cost.params, macs=cost.macs,
            error=f"duplicate of trial {run.inflight[arch_hash]} (still running)", suggestion_id=sid,
            suggestion_memo=memo,
        )  # fmt: skip
        _told(run, sid, Outcome(state="duplicate"))
        return None
    trial = storage.create_trial(
        job_id, suggestion.params, arch, params_count=cost.params, macs=cost.macs, suggestion_id=sid,
        suggestion_memo=memo, claimer=claimer,
    )  # fmt: skip
    run.suggestion_of[trial.id] = sid
    run.trained += 1
    run.skips = 0
    return trial


def _told(run: JobRun, sid: str, outcome: Outcome) -> None:
    run.strategy.tell(sid, outcome)
    run.skips += 1
    run.dirty = True

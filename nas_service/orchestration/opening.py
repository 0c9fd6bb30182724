"""Opening a claimed job: its strategy and scheduler, its saved state, and the trials a dead dispatcher left.

Whether a candidate's own resolution is trained is decided here once per job: compound scaling searches it
(scaled from the proxy's resolution); a space does when it has several ``resolutions`` or ``phis``. Anything
else trains at the proxy's resolution (:func:`nas_service.orchestration.placement.as_trained`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nas_service.arch.spec import Architecture
from nas_service.jobspec import JobSpec, NetAdaptConfig, ProxyConfig, ScalingConfig, TrialState
from nas_service.orchestration.jobrun import JobRun
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord

__all__ = ["DataProbe", "TRAINED_STATES", "open_job", "resolve_netadapt", "resolve_scaling"]

log = logging.getLogger(__name__)

#: ``(classes, channels)`` of a job's proxy data, or raises when the data cannot be read here.
DataProbe = Callable[[ProxyConfig], tuple[int, int]]
#: Trials that count against ``budget.max_trials``: trained or training. Cancelled trials do not (a job
#: cancelled and resumed runs its whole budget), nor do rejected or duplicate candidates (never trained).
TRAINED_STATES: list[TrialState] = [
    s for s in TrialState if s not in (TrialState.REJECTED, TrialState.DUPLICATE, TrialState.CANCELLED)
]


def _base_network(
    storage: BaseStorage, spec: JobSpec, base: str | list[list[str]] | Architecture, what: str
) -> tuple[Architecture, int | None]:
    """A scaling or netadapt base (preset, trial id, block strings) at the proxy's resolution, and the trial
    it came from (``None`` unless a trial id)."""
    from nas_service.strategies import resolve_base

    trial_id = None
    if isinstance(base, str) and base.isdigit():  # a trial id: its network
        trial = storage.get_trial(int(base))
        if trial.architecture is None:
            raise ValueError(f"trial {base} has no architecture to {what}")
        trial_id = trial.id
        base = Architecture.model_validate(trial.architecture)
    # Coefficients scale (and NetAdapt measures) the proxy's resolution, not the deployment one.
    return resolve_base(base, {"resolution": spec.proxy.resolution}), trial_id


def resolve_scaling(storage: BaseStorage, spec: JobSpec) -> ScalingConfig:
    """The job's scaling settings with the base as an :class:`Architecture` at the proxy's resolution."""
    scaling = spec.scaling
    if scaling is None:
        raise ValueError("a scaling job needs scaling settings")
    resolved, _ = _base_network(storage, spec, scaling.base, "scale")
    return scaling.model_copy(update={"base": resolved})


def resolve_netadapt(storage: BaseStorage, spec: JobSpec) -> tuple[NetAdaptConfig, Architecture, int | None]:
    """A netadapt job's settings, its base network at the proxy's resolution and the base trial (if any)."""
    if spec.netadapt is None:
        raise ValueError("a netadapt job needs netadapt settings")
    base, trial_id = _base_network(storage, spec, spec.netadapt.base, "adapt")
    return spec.netadapt, base, trial_id


def open_job(storage: BaseStorage, job: JobRecord, probe: DataProbe | None = None) -> JobRun:
    """Build a claimed job's :class:`JobRun`: strategy, scheduler, restored state, trial budget used.

    Args:
        storage: The controller's storage.
        job: The claimed job.
        probe: Reads the proxy data's shape here (``None``, or when it fails: learned from the first result).

    Raises:
        ValueError: The job cannot start (no space, a bad scaling base, a strategy that refuses its settings).
    """
    from nas_service.latency.gate import target_oracle
    from nas_service.orchestration.placement import as_trained
    from nas_service.space import SearchSpace
    from nas_service.strategies import make_scheduler, make_strategy

    spec = job.spec
    searches_resolution = True
    runs: list[JobRun] = []

    def measured(arch: Architecture) -> Architecture:  # a candidate as trained (the run exists below)
        trained = as_trained(arch, runs[0], runs[0].data_signature)
        assert isinstance(trained, Architecture)
        return trained

    # The target's predictor, where the job's latency mode uses one, tells latency-aware strategies (and
    # NetAdapt's estimate) each candidate's latency before training.
    oracle = target_oracle(storage, spec, measured)
    if spec.task == "detection":
        from nas_service.orchestration.detection import open_detection

        strategy, searches_resolution = open_detection(spec)
        probe = None  # the classification data probe does not apply; the detection proxy fixes the classes
    elif job.kind == "scaling":
        config = spec.strategy.model_copy(update={"name": "compound-scaling"})
        strategy = make_strategy(config, None, spec.reward, scaling=resolve_scaling(storage, spec))
    elif job.kind == "netadapt":
        config = spec.strategy.model_copy(update={"name": "netadapt"})
        netadapt = resolve_netadapt(storage, spec)
        strategy = make_strategy(config, None, spec.reward, netadapt=netadapt, latency_oracle=oracle)
    elif job.kind == "final":
        from nas_service.finalize import FinalSpace

        # The source trials' networks as they trained, visited best first. Each keeps its own resolution, except
        # under a proxy study's candidate that sets one (the resolution is then part of what is studied).
        strategy = make_strategy(spec.strategy, FinalSpace.for_job(storage, job), spec.reward)
        searches_resolution = spec.final is None or spec.final.resolution is None
    else:
        if job.space_id is None:
            raise ValueError("a search job needs a search space")
        space = SearchSpace.from_dict(storage.get_space(job.space_id).body)
        strategy = make_strategy(spec.strategy, space, spec.reward, latency_oracle=oracle)
        searches_resolution = len(space.resolutions) > 1 or len(space.phis) > 1
    scheduler = make_scheduler(
        spec.strategy, spec.proxy.epochs, strategy.objectives, multi_objective=strategy.multi_objective
    )
    run = JobRun(job=job, strategy=strategy, scheduler=scheduler, searches_resolution=searches_resolution)
    runs.append(run)
    if probe is not None:
        try:
            run.data_signature = probe(spec.proxy)
        except Exception as exc:  # noqa: BLE001 - the data may live on the workers only
            log.warning("job %s: cannot read the proxy data here (%s); its shape is learned from results", job.id, exc)
    run.trained = storage.list_trials(job.id, states=TRAINED_STATES, limit=1).total
    run.restore_state(storage)
    return run

"""A ``kind: netadapt`` job's trials: what each proposal trains for and which weights it starts from.

The strategy (:class:`~nas_service.strategies.netadapt.NetAdaptStrategy`) decides; this module turns one of
its suggestions into the worker's training: step 0 from a preset or block strings trains for
``proxy.epochs`` from scratch; everything else (step 0 from a trial, every proposal) fine-tunes for
``netadapt.finetune_epochs`` starting from its parent's stored weights, which the worker inherits where shapes
allow (:func:`nas_service.arch.inherit.inherit_weights`). The read side (the NetAdapt table) is
:func:`netadapt_report`.
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Any

from nas_service.arch.spec import Architecture
from nas_service.jobspec import ProxyConfig, TrialState
from nas_service.orchestration.jobrun import JobRun, all_trials, told_history
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord

__all__ = ["netadapt_report", "netadapt_training", "parent_trial_id"]

log = logging.getLogger(__name__)


def parent_trial_id(storage: BaseStorage, job_id: int, parent: str) -> int | None:
    """The trial whose weights a proposal starts from: ``trial:<id>``, or the trial of suggestion ``parent``
    in this job (the completed one); ``None`` when it cannot be found."""
    if parent.startswith("trial:"):
        return int(parent.split(":", 1)[1])
    for t in all_trials(storage, job_id):
        if t.suggestion_id == parent and t.state in (TrialState.COMPLETED, TrialState.DUPLICATE):
            if t.state == TrialState.COMPLETED:
                return t.id
            # A duplicate trained nothing itself: the completed trial of the same network did.
            earlier = storage.find_completed_trial(job_id, t.arch_hash) if t.arch_hash else None
            return earlier.id if earlier is not None else None
    return None


def netadapt_training(
    storage: BaseStorage, data_dir: str | os.PathLike[str], run: JobRun, trial: TrialRecord, proxy: ProxyConfig
) -> tuple[ProxyConfig, str | None, Architecture | None]:
    """How a netadapt trial trains and is measured: its proxy, the base64 weights it starts from (``None``: from
    scratch) and the network measured beside it (a proposal's parent, for a paired latency; ``None`` in step 0).

    A parent whose weights are missing (over the size limit, or unreadable) is logged and the proposal trains
    from scratch for the fine-tuning epochs: its accuracy is then lower, which the choice sees.
    """
    from nas_service.artifacts import load_trial_weights

    params = trial.params or {}
    parent = params.get("parent")
    cfg = run.job.spec.netadapt
    if parent is None or cfg is None:
        return proxy, None, None
    proxy = proxy.model_copy(update={"epochs": cfg.finetune_epochs})
    source = parent_trial_id(storage, run.job.id, str(parent))
    reference = None
    if source is not None and int(params.get("step") or 0) > 0:
        stored = storage.get_trial(source).architecture
        reference = Architecture.model_validate(stored) if stored else None
    weights = load_trial_weights(storage, data_dir, source) if source is not None else None
    if weights is None:
        log.warning("job %s trial %s: no stored weights of its parent %s; it trains from scratch",
                    run.job.id, trial.id, parent)  # fmt: skip
        return proxy, None, reference
    return proxy, base64.b64encode(weights).decode("ascii"), reference


def netadapt_report(storage: BaseStorage, job: JobRecord) -> dict[str, Any]:
    """The NetAdapt table of ``job`` (:meth:`NetAdaptStrategy.report`), rebuilt from its trials and saved
    state, with each row's trial id; an empty table with a note for other jobs or before any state."""
    from nas_service.orchestration.opening import resolve_netadapt
    from nas_service.strategies import make_strategy
    from nas_service.strategies.netadapt import NetAdaptStrategy

    empty: dict[str, Any] = {
        "status": None, "note": "not a netadapt job", "budget_ms": None, "budget_fraction": None, "step": 0,
        "target_ms": None, "base": None, "current": None, "steps": [], "proposals": [],
    }  # fmt: skip
    if job.kind != "netadapt" or job.spec.netadapt is None:
        return empty
    config = job.spec.strategy.model_copy(update={"name": "netadapt"})
    try:
        strategy = make_strategy(config, None, job.spec.reward, netadapt=resolve_netadapt(storage, job.spec))
    except (ValueError, LookupError) as exc:
        return {**empty, "note": f"the base network cannot be resolved: {exc}"}
    assert isinstance(strategy, NetAdaptStrategy)
    trials = all_trials(storage, job.id)
    saved = storage.load_strategy_state(job.id)
    state = (saved or {}).get("strategy")
    if state:
        strategy.load_state_dict(state, told_history(trials, state.get("pending")))
    report = strategy.report()
    trial_of = {t.suggestion_id: t.id for t in trials if t.suggestion_id}
    rows = [report["base"], report["current"], *report["proposals"]]
    rows += [s["chosen"] for s in report["steps"] if s.get("chosen")]
    for row in rows:
        if row is not None:
            row["trial_id"] = trial_of.get(row.get("suggestion_id") or "")
    return report

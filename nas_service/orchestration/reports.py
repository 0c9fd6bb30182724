"""Read-side reports that rebuild a strategy from a job's trials and saved state (no dispatcher needed)."""

from __future__ import annotations

from typing import Any

from nas_service.orchestration.jobrun import all_trials, told_history
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord

__all__ = ["job_scaling_report"]


def job_scaling_report(storage: BaseStorage, job: JobRecord) -> dict[str, Any]:
    """:func:`nas_service.strategies.scaling.scaling_report` of ``job``: its saved planner state and its trials."""
    from nas_service.strategies.scaling import scaling_report  # lazy: only scaling jobs need the strategies

    if job.spec.task == "detection":
        from nas_service.orchestration.detection import detection_scaling_report

        return detection_scaling_report(job.spec, all_trials(storage, job.id) if job.kind == "scaling" else [])
    if job.kind != "scaling" and job.spec.strategy.name != "compound-scaling":
        return scaling_report(job.spec, None)
    saved = storage.load_strategy_state(job.id)
    strategy = (saved or {}).get("strategy") or {}
    history = told_history(all_trials(storage, job.id), strategy.get("pending"))
    return scaling_report(job.spec, saved, history)

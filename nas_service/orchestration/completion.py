"""When a held job is finished, and how it ends: ``completed`` (saying why when short), or ``failed``.

A job is finished when nothing of it runs or waits to be submitted, no requeued retry waits (unless its time
is up), and one of: its wall-time budget is spent, the strategy has nothing new to propose,
``budget.max_trials`` trials were trained, or ``max_skips`` candidates in a row were rejected or duplicates.
It ends ``failed`` when every trained trial failed; otherwise ``completed``, with a note in ``error`` when it
ran fewer trials than its budget (a resumed job that finished short says why).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_service.jobspec import JobState, TrialState
from nas_service.orchestration.jobrun import JobRun
from nas_service.storage.base import BaseStorage

__all__ = ["Finish", "finish_job", "finish_reason"]


@dataclass(frozen=True)
class Finish:
    """Why a job stops.

    Attributes:
        why: ``time``, ``exhausted``, ``budget`` or ``skips``.
        short: A note for the user when the job trained fewer trials than ``max_trials``, else ``None``.
    """

    why: str
    short: str | None


def finish_reason(run: JobRun, max_skips: int, queued: int) -> Finish | None:
    """Whether ``run`` is finished (module docstring); ``None`` while it is not.

    Args:
        run: The job (its counters and flags).
        max_skips: Rejected/duplicate candidates in a row after which a job counts as exhausted.
        queued: Requeued trials waiting for another attempt.
    """
    if run.running or run.unsubmitted or (queued and not run.out_of_time):
        return None
    budget = run.job.spec.budget
    if run.out_of_time:
        why = "time"
    elif run.trained >= budget.max_trials:
        why = "budget"
    elif run.exhausted:
        why = "exhausted"
    elif run.skips >= max_skips:
        why = "skips"
    else:
        return None
    short = None
    ended = run.strategy.end_note() if why == "exhausted" else None
    if ended is not None and ended[0]:  # the strategy reached its own goal: the trial budget was only a cap
        return Finish(why, None)
    if why != "budget":
        reasons = {
            "time": f"its wall-time budget ({budget.max_wall_s} s) was spent",
            "exhausted": "the strategy had no new candidate to propose",
            "skips": f"{run.skips} candidates in a row were over the caps or duplicates",
        }
        reason = ended[1] if ended is not None else reasons[why]
        short = f"finished after {run.trained} of {budget.max_trials} trials: {reason}"
    return Finish(why, short)


def finish_job(storage: BaseStorage, run: JobRun, finish: Finish) -> JobState:
    """Move a finished job to its terminal state; returns it."""
    job = storage.get_job(run.job.id)
    if job.trials_completed == 0 and job.trials_failed > 0 and job.trials_pruned == 0:
        last = storage.list_trials(job.id, states=[TrialState.FAILED], order="desc", limit=1).items
        reason = last[0].error if last and last[0].error else "unknown error"
        error = f"all {job.trials_failed} trials failed; last: {reason}"[:4000]
        storage.transition_job(job.id, JobState.FAILED, JobState.RUNNING, error=error)
        return JobState.FAILED
    storage.transition_job(job.id, JobState.COMPLETED, JobState.RUNNING, error=finish.short)
    return JobState.COMPLETED
